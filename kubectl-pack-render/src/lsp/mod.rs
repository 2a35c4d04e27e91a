//! `kubectl pack-render lsp`: a Language Server over stdio for the files of
//! a pack (templates, values files, environments, Pack.yaml, the schema).
//!
//! Transport is rust-analyzer's `lsp-server` (JSON-RPC framing, the
//! initialize handshake); the loop here is synchronous: requests are
//! answered in order from the open buffers, and diagnostics are published
//! for every open file of the changed pack once the editor has been quiet
//! for [`DEBOUNCE`]. Full-text sync; positions are UTF-16 as the protocol
//! says. Beyond the standard requests, `pack/preview` (and the command
//! `pack.preview`) returns the current template rendered with the current
//! buffers — the live preview.

mod analysis;
mod assist;
mod docs;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use lsp_server::{Connection, Message, Notification, Request, Response};
use serde_json::{Value, json};

use analysis::{Problem, View};

/// Quiet time after a change before diagnostics are computed.
const DEBOUNCE: Duration = Duration::from_millis(15);

/// `lsp` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct LspArgs {
    /// Environment whose values diagnostics, hover and preview use
    /// (initializationOptions.environment overrides it).
    #[arg(short = 'e', long = "environment", value_name = "NAME")]
    pub environment: Option<String>,
    /// Talk over stdio (the only transport; accepted because editors pass it).
    #[arg(long)]
    pub stdio: bool,
}

struct Server {
    conn: Connection,
    /// Open documents: path → text.
    buffers: HashMap<PathBuf, String>,
    environment: Option<String>,
    dirty: HashSet<PathBuf>,
    deadline: Option<Instant>,
}

/// Runs the server until the client says exit.
pub fn run(args: &LspArgs) -> anyhow::Result<u8> {
    let (conn, io) = Connection::stdio();
    let caps = json!({
        "textDocumentSync": {"openClose": true, "change": 1, "save": {"includeText": false}},
        "completionProvider": {"triggerCharacters": [".", "|", " "]},
        "hoverProvider": true,
        "definitionProvider": true,
        "executeCommandProvider": {"commands": ["pack.preview"]},
    });
    let init = conn
        .initialize(caps)
        .context("lsp: the client did not complete the initialize handshake")?;
    let environment = init
        .pointer("/initializationOptions/environment")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| args.environment.clone());
    let mut server = Server {
        conn,
        buffers: HashMap::new(),
        environment,
        dirty: HashSet::new(),
        deadline: None,
    };
    server.serve()?;
    drop(server);
    io.join().context("lsp: stdio")?;
    Ok(shared::output::exit::OK)
}

impl Server {
    fn serve(&mut self) -> anyhow::Result<()> {
        loop {
            let msg = match self.deadline {
                Some(d) => match self
                    .conn
                    .receiver
                    .recv_timeout(d.saturating_duration_since(Instant::now()))
                {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(()),
                },
                None => match self.conn.receiver.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return Ok(()),
                },
            };
            match msg {
                None => self.publish_dirty()?,
                Some(Message::Request(req)) => {
                    if self.conn.handle_shutdown(&req)? {
                        return Ok(());
                    }
                    let resp = self.answer(req);
                    self.conn.sender.send(Message::Response(resp))?;
                }
                Some(Message::Notification(n)) => self.notified(n)?,
                Some(Message::Response(_)) => {}
            }
        }
    }

    fn notified(&mut self, n: Notification) -> anyhow::Result<()> {
        let path = n
            .params
            .pointer("/textDocument/uri")
            .and_then(Value::as_str)
            .and_then(uri_to_path);
        let Some(path) = path else { return Ok(()) };
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let text = n
                    .params
                    .pointer("/textDocument/text")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.buffers.insert(path.clone(), text.to_string());
                self.changed(path);
            }
            "textDocument/didChange" => {
                // Full sync: the last change holds the whole text.
                if let Some(text) = n
                    .params
                    .get("contentChanges")
                    .and_then(Value::as_array)
                    .and_then(|c| c.last())
                    .and_then(|c| c.get("text"))
                    .and_then(Value::as_str)
                {
                    self.buffers.insert(path.clone(), text.to_string());
                    self.changed(path);
                }
            }
            "textDocument/didSave" => self.changed(path),
            "textDocument/didClose" => {
                self.buffers.remove(&path);
                self.dirty.remove(&path);
                self.publish(&path, &[])?;
            }
            _ => {}
        }
        Ok(())
    }

    fn changed(&mut self, path: PathBuf) {
        self.dirty.insert(path);
        self.deadline = Some(Instant::now() + DEBOUNCE);
    }

    /// Diagnostics for every open file of each pack that changed.
    fn publish_dirty(&mut self) -> anyhow::Result<()> {
        self.deadline = None;
        let roots: HashSet<PathBuf> = self
            .dirty
            .drain()
            .filter_map(|p| analysis::pack_root(&p))
            .collect();
        let open: Vec<PathBuf> = self.buffers.keys().cloned().collect();
        for path in open {
            let Some(root) = analysis::pack_root(&path).filter(|r| roots.contains(r)) else {
                continue;
            };
            let text = self.buffers.get(&path).cloned().unwrap_or_default();
            let problems = analysis::diagnose(
                &root,
                &path,
                &text,
                &self.buffers,
                self.environment.as_deref(),
            );
            self.publish(&path, &problems)?;
        }
        Ok(())
    }

    fn publish(&self, path: &Path, problems: &[Problem]) -> anyhow::Result<()> {
        let text = self.buffers.get(path).map(String::as_str).unwrap_or("");
        let diagnostics: Vec<Value> = problems
            .iter()
            .map(|p| {
                let line = text.lines().nth(p.line).unwrap_or("");
                json!({
                    "range": range(line, p.line, p.start, p.end),
                    "severity": p.severity as u8,
                    "source": "pack-render",
                    "message": p.message,
                })
            })
            .collect();
        let params = json!({"uri": path_to_uri(path), "diagnostics": diagnostics});
        self.conn
            .sender
            .send(Message::Notification(Notification::new(
                "textDocument/publishDiagnostics".into(),
                params,
            )))?;
        Ok(())
    }

    fn answer(&self, req: Request) -> Response {
        let id = req.id.clone();
        const SUPPORTED: [&str; 5] = [
            "pack/preview",
            "workspace/executeCommand",
            "textDocument/completion",
            "textDocument/hover",
            "textDocument/definition",
        ];
        if !SUPPORTED.contains(&req.method.as_str()) {
            let message = format!("{} is not supported", req.method);
            return Response::new_err(id, lsp_server::ErrorCode::MethodNotFound as i32, message);
        }
        match self.result(&req) {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => Response::new_err(id, lsp_server::ErrorCode::InvalidParams as i32, e),
        }
    }

    fn result(&self, req: &Request) -> Result<Value, String> {
        let p = &req.params;
        match req.method.as_str() {
            "pack/preview" => self.preview(p.pointer("/textDocument/uri").and_then(Value::as_str)),
            "workspace/executeCommand" => match p.get("command").and_then(Value::as_str) {
                Some("pack.preview") => {
                    self.preview(p.pointer("/arguments/0").and_then(Value::as_str))
                }
                other => Err(format!("unknown command {other:?}")),
            },
            "textDocument/completion" | "textDocument/hover" | "textDocument/definition" => {
                let Some((path, line, col)) = self.position(p) else {
                    return Ok(Value::Null);
                };
                let view = self.view(&path).map_err(|p| p.message)?;
                Ok(match req.method.as_str() {
                    "textDocument/completion" => json!(assist::complete(&view, &line[..col])),
                    "textDocument/hover" => match assist::hover(&view, &line, col) {
                        Some(md) => {
                            json!({"contents": {"kind": "markdown", "value": md}, "range": null})
                        }
                        None => Value::Null,
                    },
                    _ => match assist::definition(&view, &line, col) {
                        Some(place) => {
                            let text = self.text_of(&place.path);
                            let l = text.lines().nth(place.line).unwrap_or("");
                            json!({"uri": path_to_uri(&place.path), "range": range(l, place.line, place.start, place.end)})
                        }
                        None => Value::Null,
                    },
                })
            }
            other => Err(format!("{other} is not supported")),
        }
    }

    /// The rendered output of the template at `uri` with the current buffers.
    fn preview(&self, uri: Option<&str>) -> Result<Value, String> {
        let path = uri
            .and_then(uri_to_path)
            .ok_or("pack/preview needs a file:// URI")?;
        let view = self.view(&path).map_err(|p| p.message)?;
        let root = view.pack.dir.clone();
        let analysis::FileKind::Template(name) = analysis::kind(&root, &path) else {
            return Err(format!("{} is not a template of the pack", path.display()));
        };
        Ok(match view.render(&name) {
            Ok(output) => json!({"uri": uri, "output": output}),
            Err(e) => json!({"uri": uri, "error": e.to_string()}),
        })
    }

    fn view(&self, path: &Path) -> Result<View, Problem> {
        let root = analysis::pack_root(path).ok_or_else(|| Problem {
            line: 0,
            start: 0,
            end: 0,
            severity: analysis::Severity::Error,
            message: format!(
                "{} is not inside a pack (no Pack.yaml above it)",
                path.display()
            ),
        })?;
        View::load(&root, &self.buffers, self.environment.as_deref())
    }

    fn text_of(&self, path: &Path) -> String {
        self.buffers
            .get(path)
            .cloned()
            .or_else(|| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// (path, line text, byte column) of a request's position.
    fn position(&self, p: &Value) -> Option<(PathBuf, String, usize)> {
        let path = uri_to_path(p.pointer("/textDocument/uri")?.as_str()?)?;
        let line_no = p.pointer("/position/line")?.as_u64()? as usize;
        let character = p.pointer("/position/character")?.as_u64()? as usize;
        let text = self.text_of(&path);
        let line = text.lines().nth(line_no).unwrap_or("").to_string();
        let col = byte_col(&line, character);
        Some((path, line, col))
    }
}

/// An LSP range on one line from byte columns.
fn range(line: &str, line_no: usize, start: usize, end: usize) -> Value {
    json!({
        "start": {"line": line_no, "character": utf16_col(line, start)},
        "end": {"line": line_no, "character": utf16_col(line, end.max(start))},
    })
}

fn utf16_col(line: &str, byte: usize) -> usize {
    let byte = byte.min(line.len());
    let byte = (0..=byte)
        .rev()
        .find(|b| line.is_char_boundary(*b))
        .unwrap_or(0);
    line[..byte].encode_utf16().count()
}

fn byte_col(line: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16();
    }
    line.len()
}

/// `file:///a%20b/c` → `/a b/c`.
fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = rest
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

fn path_to_uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_utf16_columns_round_trip() {
        let p = uri_to_path("file:///tmp/a%20pack/templates/x.yaml").unwrap();
        assert_eq!(p, PathBuf::from("/tmp/a pack/templates/x.yaml"));
        assert_eq!(path_to_uri(&p), "file:///tmp/a%20pack/templates/x.yaml");
        let line = "é: {{ values.x }}";
        assert_eq!(utf16_col(line, 2), 1);
        assert_eq!(byte_col(line, 1), 2);
    }
}
