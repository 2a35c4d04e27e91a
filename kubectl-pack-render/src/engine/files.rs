//! The `files` object templates use to read files of the pack:
//! `files.get(path)`, `files.get_bytes(path)`, `files.exists(path)`,
//! `files.glob(pattern)`, `files.lines(path)`. Paths are relative to the
//! pack directory and cannot leave it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr};
use minijinja::{Error, State, Value};

use super::filters::invalid;

/// Sandboxed read access to one pack's files.
#[derive(Debug)]
pub struct Files {
    root: PathBuf,
}

impl Files {
    /// Files of the pack in `root`.
    pub fn new(root: &Path) -> Self {
        Files {
            root: root.to_path_buf(),
        }
    }

    fn resolve(&self, rel: &str) -> Result<PathBuf, Error> {
        let p = Path::new(rel);
        if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(invalid(format!(
                "files: {rel:?} is outside the pack (use a path inside it, without ..)"
            )));
        }
        Ok(self.root.join(p))
    }

    fn all_files(&self) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    out.push(
                        rel.components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/"),
                    );
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

/// A file of the pack, as Helm's `.Files.Get` reads it: a missing file is
/// empty; any other failure, or a file over the reading limit, is an error.
fn read_file(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(invalid(format!(
                "files: cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let limit = shared::yaml::MAX_INPUT_BYTES;
    let mut out = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| invalid(format!("files: cannot read {}: {e}", path.display())))?;
    if out.len() as u64 > limit {
        return Err(invalid(format!(
            "files: {} is larger than the {} MiB a file may have",
            path.display(),
            limit / 1024 / 1024
        )));
    }
    Ok(out)
}

impl Object for Files {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let arg = |i: usize| -> Result<String, Error> {
            args.get(i)
                .and_then(|v| v.as_str().map(str::to_string))
                .ok_or_else(|| invalid(format!("files.{method} needs a path string")))
        };
        match method {
            "get" => {
                let bytes = read_file(&self.resolve(&arg(0)?)?)?;
                Ok(Value::from(String::from_utf8_lossy(&bytes).into_owned()))
            }
            "get_bytes" => Ok(Value::from_bytes(read_file(&self.resolve(&arg(0)?)?)?)),
            "exists" => Ok(Value::from(self.resolve(&arg(0)?)?.is_file())),
            "lines" => {
                let bytes = read_file(&self.resolve(&arg(0)?)?)?;
                let text = String::from_utf8_lossy(&bytes);
                Ok(Value::from(
                    text.lines().map(str::to_string).collect::<Vec<_>>(),
                ))
            }
            "glob" => {
                let pattern = arg(0)?;
                let glob = globset::Glob::new(&pattern)
                    .map_err(|e| invalid(format!("files.glob {pattern:?}: {e}")))?
                    .compile_matcher();
                Ok(Value::from(
                    self.all_files()
                        .into_iter()
                        .filter(|f| glob.is_match(f))
                        .collect::<Vec<_>>(),
                ))
            }
            other => Err(invalid(format!(
                "files has no method {other} (get, get_bytes, exists, glob, lines)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_reads_inside_the_pack_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/a.ini"), "x=1\ny=2\n").unwrap();
        std::fs::write(dir.path().join("conf/b.ini"), "z=3\n").unwrap();
        let mut env = minijinja::Environment::new();
        env.add_global("files", Value::from_object(Files::new(dir.path())));
        let r = |src: &str| env.render_str(src, ()).map_err(|e| e.to_string());
        assert_eq!(r("{{ files.get('conf/a.ini') }}").unwrap(), "x=1\ny=2\n");
        assert_eq!(r("{{ 'y' if files.exists('conf/a.ini') else 'n' }}{{ 'y' if files.exists('nope') else 'n' }}").unwrap(), "yn");
        assert_eq!(
            r("{{ files.lines('conf/a.ini') | join('|') }}").unwrap(),
            "x=1|y=2"
        );
        assert_eq!(
            r("{{ files.glob('conf/*.ini') | join(',') }}").unwrap(),
            "conf/a.ini,conf/b.ini"
        );
        assert_eq!(
            r("{{ files.get_bytes('conf/b.ini') | length }}").unwrap(),
            "4"
        );
        assert!(
            r("{{ files.get('../etc/passwd') }}")
                .unwrap_err()
                .contains("outside the pack")
        );
        assert!(
            r("{{ files.get('/etc/passwd') }}")
                .unwrap_err()
                .contains("outside the pack")
        );
    }
}
