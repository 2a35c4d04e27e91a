//! Typed errors of the shared crate.
//!
//! Every variant renders as one readable line that names the file, document
//! or object involved and, where there is one, what the user can do about it.
//! The plugins wrap these in `anyhow` at their edge; [`crate::cli`] prints
//! the chain on one line.

use std::path::PathBuf;

use crate::stream::Source;

/// A command line that cannot be carried out as given, found after clap
/// parsed it (an `--only` kind the server does not know, a flag that needs
/// a terminal there is none of): a usage error, exit 2 like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// A check before the first write refused the input: one line per bad
/// object (printed each on its own line by [`crate::cli::report`]), then
/// the summary. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{summary}")]
pub struct Refusal {
    /// One line per object: what it is, where it came from, what is wrong.
    pub lines: Vec<String>,
    /// What happened as a whole (for example "nothing applied: ...").
    pub summary: String,
}

impl Refusal {
    /// A refusal of `lines` whose summary says `what` and that nothing was applied.
    pub fn nothing_applied(lines: Vec<String>, what: &str) -> Refusal {
        let summary = format!(
            "nothing applied: {} {what}; fix {} and run the command again",
            lines.len(),
            if lines.len() == 1 { "it" } else { "them" }
        );
        Refusal { lines, summary }
    }
}

/// Result alias for the shared crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors raised by the shared crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// Standard input could not be read.
    #[error("cannot read STDIN: {0}")]
    ReadStdin(std::io::Error),

    /// A document is not valid YAML (or JSON).
    #[error("{source_ref}: invalid YAML: {message}")]
    Yaml {
        /// Where the document came from; its line is the error's line.
        source_ref: Source,
        /// The parser's message, on one line.
        message: String,
    },

    /// A document parsed but is not a Kubernetes object.
    #[error("{source_ref}: not a Kubernetes object: {message}")]
    NotAnObject {
        /// Where the document came from.
        source_ref: Source,
        /// What is missing or wrong (for example "missing apiVersion").
        message: String,
    },

    /// A stream from `kubectl pack-render` was cut short or changed (see
    /// [`crate::seal`]).
    #[error(
        "{origin}: refusing the stream from kubectl pack-render: {reason}; nothing was changed (a stream edited on purpose must drop its first line, the kubectl-pack.io/pack header)"
    )]
    BrokenStream {
        /// STDIN or the file.
        origin: String,
        /// What is wrong.
        reason: String,
    },

    /// An object could not be written as YAML.
    #[error("cannot write YAML: {0}")]
    WriteYaml(String),

    /// No kubeconfig could be loaded and no `--server` was given.
    #[error(
        "no kubeconfig found ({detail}); set KUBECONFIG, pass --kubeconfig FILE, or pass --server and --token"
    )]
    NoKubeconfig {
        /// What was tried.
        detail: String,
    },

    /// The kubeconfig exists but cannot be used (unknown context, bad file...).
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),

    /// A flag value is malformed (for example `--request-timeout 5x`).
    #[error("invalid value '{value}' for {flag}: {reason}")]
    Flag {
        /// The flag, as typed (`--request-timeout`).
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused and what is accepted.
        reason: String,
    },

    /// The API server does not serve the object's apiVersion/kind.
    #[error(
        "{object} ({source_ref}): the server has no kind {kind} in {api_version}; check apiVersion/kind, or apply the CRD that defines it first"
    )]
    UnknownKind {
        /// The object, as `Kind/name`.
        object: String,
        /// Where the object came from.
        source_ref: Source,
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },

    /// Server-side apply was refused because another field manager owns fields.
    #[error(
        "{object}: conflict with {managers} over {fields}; re-run with --force-conflicts to take ownership"
    )]
    ApplyConflict {
        /// The object, as `Kind/name`.
        object: String,
        /// The other field managers, quoted and comma separated.
        managers: String,
        /// The contested field paths, comma separated.
        fields: String,
        /// Each contested field with the manager holding it.
        contested: Vec<crate::apply::Contested>,
    },

    /// An API request failed.
    #[error("{context}: {message}")]
    Api {
        /// What was being done (for example "apply Deployment/web").
        context: String,
        /// The server's message or the transport error.
        message: String,
        /// HTTP status code, if the server answered.
        code: Option<u16>,
    },
}

impl Error {
    /// Wraps a kube client error with what was being done, keeping the
    /// server's one-line message and status code.
    pub fn api(context: impl Into<String>, err: kube::Error) -> Self {
        let (message, code) = match &err {
            // 422: the causes name the fields (and lose embedded Go dumps).
            kube::Error::Api(status) if status.code == 422 && !status_causes(status).is_empty() => {
                (status_causes(status).join("; "), Some(status.code))
            }
            kube::Error::Api(status) if status.code == 403 => {
                (format!("{} (RBAC)", status.message), Some(status.code))
            }
            kube::Error::Api(status) if status.code == 401 => (
                format!(
                    "{}: the API server refused the credentials; log in again or check the kubeconfig's user",
                    status.message
                ),
                Some(status.code),
            ),
            kube::Error::Api(status) => (status.message.clone(), Some(status.code)),
            other => (crate::error::one_line(&chain(other)), None),
        };
        Error::Api {
            context: context.into(),
            message,
            code,
        }
    }
}

/// The causes of an API error (422 Invalid and the like) as
/// `field: message` lines, with the Go struct dumps some messages embed
/// (`Invalid value: core.PodTemplateSpec{...}: field is immutable`) elided.
pub fn status_causes(status: &kube::core::Status) -> Vec<String> {
    let Some(details) = &status.details else {
        return Vec::new();
    };
    details
        .causes
        .iter()
        .map(|c| {
            let message = elide_dump(&one_line(&c.message));
            if c.field.is_empty() {
                message
            } else {
                format!("{}: {message}", c.field)
            }
        })
        .collect()
}

/// `Invalid value: <anything longer than 80 characters>: rest` -> `rest`.
fn elide_dump(message: &str) -> String {
    const MARK: &str = "Invalid value: ";
    if let Some(start) = message.find(MARK) {
        let value_at = start + MARK.len();
        if let Some(end) = message[value_at..].rfind(": ") {
            let value = &message[value_at..value_at + end];
            if value.len() > 80 {
                let rest = &message[value_at + end + 2..];
                return format!("{}{rest}", &message[..start]);
            }
        }
    }
    message.to_string()
}

/// An error and its causes, joined with ": " (skipping causes whose text the
/// outer message already contains).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// Collapses a multi-line message into one line, without the Rust debug
/// dump kube's API errors carry (`ApiError: msg: Reason (Status { ... })`
/// becomes `msg: Reason`).
pub fn one_line(message: &str) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    without_status_dumps(&joined)
}

fn without_status_dumps(text: &str) -> String {
    const MARKS: [&str; 2] = [" (Status {", " (ErrorResponse {"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = MARKS.iter().filter_map(|m| rest.find(m)).min() {
        out.push_str(&without_reason(&rest[..at]));
        // Skip the balanced parenthesis that holds the dump.
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest[at + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = at + 1 + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    if rest.starts_with("ApiError: ") || !out.is_empty() {
        out.push_str(rest);
    } else {
        out.push_str(&without_reason(rest));
    }
    out.replace("ApiError: ", "")
}

/// The `reason` words of Kubernetes' Status (metav1.StatusReason).
const REASONS: [&str; 16] = [
    "Unauthorized",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Gone",
    "Invalid",
    "ServerTimeout",
    "Timeout",
    "TooManyRequests",
    "BadRequest",
    "MethodNotAllowed",
    "NotAcceptable",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "InternalError",
    "ServiceUnavailable",
];

/// kube prints an API error as `message: Reason`; the reason word repeats
/// the message, except that Forbidden is worth naming as RBAC.
fn without_reason(text: &str) -> String {
    match text.rsplit_once(": ") {
        Some((message, "Forbidden")) => format!("{message} (RBAC)"),
        Some((message, reason)) if REASONS.contains(&reason) => message.to_string(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_api_error_dumps_are_cut_from_one_line_messages() {
        let text = "cannot take the lock: ApiError: leases.coordination.k8s.io \"sh.sherpack.lock.relA\" is invalid: metadata.name: Invalid value: \"sh.sherpack.lock.relA\": a lowercase RFC 1123 subdomain: Invalid (Status { status: Some(Failure), code: 422, details: Some(StatusDetails { causes: [StatusCause { field: \"metadata.name\" }] }) }) then more";
        assert_eq!(
            one_line(text),
            "cannot take the lock: leases.coordination.k8s.io \"sh.sherpack.lock.relA\" is invalid: metadata.name: Invalid value: \"sh.sherpack.lock.relA\": a lowercase RFC 1123 subdomain then more"
        );
        assert_eq!(
            one_line(
                "ApiError: secrets is forbidden: User \"developer\" cannot list resource \"secrets\": Forbidden (ErrorResponse { status: \"Failure\", code: 403 })"
            ),
            "secrets is forbidden: User \"developer\" cannot list resource \"secrets\" (RBAC)"
        );
        assert_eq!(one_line("plain\nmessage"), "plain message");
    }

    #[test]
    fn go_struct_dumps_are_elided_from_causes() {
        let dump = format!(
            "core.PodTemplateSpec{{ObjectMeta:v1.ObjectMeta{{{}}}}}",
            "x".repeat(200)
        );
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": 422, "reason": "Invalid", "message": "too long",
            "details": {"causes": [
                {"field": "spec.template", "reason": "FieldValueInvalid",
                 "message": format!("Invalid value: {dump}: field is immutable")},
                {"field": "spec.size", "reason": "FieldValueInvalid",
                 "message": "Invalid value: 30: must be at most 10"}]}}))
        .expect("a Status");
        assert_eq!(
            status_causes(&status),
            [
                "spec.template: field is immutable",
                "spec.size: Invalid value: 30: must be at most 10"
            ]
        );
    }
}
