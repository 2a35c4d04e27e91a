//! Reading manifests: `-` (stdin), files and directories into Kubernetes
//! objects that remember where they came from.
//!
//! Every object keeps its [`Source`] (file or STDIN, document number, line)
//! so that any later error, from a schema check to a server-side apply
//! conflict, can point at the document that caused it. Empty documents are
//! skipped; `kind: List` documents are expanded into their items, as kubectl
//! does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::release::PackInfo;
use crate::yaml;

/// Where a stream came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Standard input, named "STDIN" in messages as kubectl does.
    Stdin,
    /// A file.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Stdin => f.write_str("STDIN"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The place of one document: origin, 1-based document number and line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// File or STDIN (shared by every document of that origin).
    pub origin: Arc<Origin>,
    /// 1-based document number within the origin.
    pub document: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} document {} (line {})",
            self.origin, self.document, self.line
        )
    }
}

/// A Kubernetes object read from a stream, with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedObject {
    /// The object as the user wrote it (a JSON-compatible tree).
    pub object: Value,
    /// Where it came from.
    pub source: Source,
}

impl SourcedObject {
    /// `apiVersion` of the object (checked non-empty when read).
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }
    /// `kind` of the object (checked non-empty when read).
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    /// `metadata.name` (checked non-empty when read).
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// `metadata.namespace`, if written.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
    }
    /// `Kind/name` (with ` -n NAMESPACE` when written), as messages name
    /// an object of a stream.
    pub fn key(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{} -n {ns}", self.kind(), self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }
}

/// Reads every input in order: `-` is standard input, a directory is read
/// file by file (`.yaml`, `.yml`, `.json`, sorted by name; into
/// subdirectories only with `recursive`), anything else is a file.
pub fn read_inputs(inputs: &[impl AsRef<str>], recursive: bool) -> Result<Vec<SourcedObject>> {
    Ok(read_inputs_with_pack(inputs, recursive)?.0)
}

/// [`read_inputs`], plus the pack header `kubectl pack-render` writes at the
/// top of its stream (the first one found on stdin or in a file).
pub fn read_inputs_with_pack(
    inputs: &[impl AsRef<str>],
    recursive: bool,
) -> Result<(Vec<SourcedObject>, Option<PackInfo>)> {
    let mut out = Vec::new();
    let mut pack = None;
    for input in inputs {
        let input = input.as_ref();
        if input == "-" {
            let text = crate::yaml::read_input("-")?;
            take_header(&text, &Origin::Stdin, &mut pack)?;
            out.extend(parse_stream(&text, Origin::Stdin)?);
        } else {
            read_path(Path::new(input), recursive, true, &mut out, &mut pack)?;
        }
    }
    Ok((out, pack))
}

fn take_header(text: &str, origin: &Origin, pack: &mut Option<PackInfo>) -> Result<()> {
    // Every rendered stream must be whole, not only the first one read.
    crate::seal::verify(text).map_err(|reason| Error::BrokenStream {
        origin: origin.to_string(),
        reason,
    })?;
    if pack.is_some() {
        return Ok(());
    }
    match PackInfo::from_stream(text) {
        Some(Ok(info)) => *pack = Some(info),
        Some(Err(message)) => {
            return Err(Error::Yaml {
                source_ref: Source {
                    origin: Arc::new(origin.clone()),
                    document: 0,
                    line: 1,
                },
                message: format!("the kubectl-pack.io/pack header is not valid JSON: {message}"),
            });
        }
        None => {}
    }
    Ok(())
}

fn read_path(
    path: &Path,
    recursive: bool,
    top: bool,
    out: &mut Vec<SourcedObject>,
    pack: &mut Option<PackInfo>,
) -> Result<()> {
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.is_dir() {
        if !top && !recursive {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(read_err)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(read_err)?;
        entries.sort();
        for entry in entries {
            let is_manifest = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if entry.is_dir() || is_manifest {
                read_path(&entry, recursive, false, out, pack)?;
            }
        }
        return Ok(());
    }
    let text = match path.to_str() {
        Some(p) => crate::yaml::read_input(p)?,
        None => std::fs::read_to_string(path).map_err(read_err)?,
    };
    let origin = Origin::File(path.to_path_buf());
    take_header(&text, &origin, pack)?;
    out.extend(parse_stream(&text, Origin::File(path.to_path_buf()))?);
    Ok(())
}

/// Parses a whole stream of documents into objects.
pub fn parse_stream(text: &str, origin: Origin) -> Result<Vec<SourcedObject>> {
    let origin = Arc::new(origin);
    let mut out = Vec::new();
    for doc in yaml::split_documents(text) {
        if doc.is_empty() {
            continue;
        }
        let mut source = Source {
            origin: origin.clone(),
            document: doc.index,
            line: doc.line,
        };
        let value: Value = yaml::parse_document(doc.text, doc.line).map_err(|e| {
            let mut at = source.clone();
            if let Some(line) = e.line {
                at.line = line;
            }
            Error::Yaml {
                source_ref: at,
                message: e.message,
            }
        })?;
        if value.is_null() {
            continue;
        }
        // Point at the first line with content, not at a leading comment.
        source.line += doc
            .text
            .lines()
            .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            .count();
        push_object(value, source, &mut out)?;
    }
    Ok(out)
}

fn push_object(value: Value, source: Source, out: &mut Vec<SourcedObject>) -> Result<()> {
    let not_object = |message: &str| Error::NotAnObject {
        source_ref: source.clone(),
        message: message.to_string(),
    };
    let Value::Object(map) = &value else {
        return Err(not_object(
            "expected a mapping with apiVersion, kind and metadata",
        ));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    if map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        return Err(not_object("missing apiVersion"));
    }
    if kind.is_empty() {
        return Err(not_object("missing kind"));
    }
    if kind.ends_with("List")
        && let Some(items) = map.get("items")
    {
        let Value::Array(items) = items else {
            return Err(not_object("items of a List must be a sequence"));
        };
        for item in items.clone() {
            push_object(item, source.clone(), out)?;
        }
        return Ok(());
    }
    let name = value["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(not_object(&format!("{kind} has no metadata.name")));
    }
    out.push(SourcedObject {
        object: value,
        source,
    });
    Ok(())
}
