//! Completion through kubectl's plugin protocol.
//!
//! kubectl ≥ 1.26 completes `kubectl pack-waves <Tab>` by running
//! `kubectl_complete-pack_waves WORD... PARTIAL` (the words after the plugin
//! name, the last one possibly empty) and reading Cobra's `__complete`
//! answer: one candidate per line (`value<TAB>description`), then
//! `:DIRECTIVE` (0 = the shell may complete file names, 4 = it must not).
//! The helper is a two-line script (`krew/kubectl_complete-pack_waves`)
//! running `kubectl-pack_waves __complete "$@"`, which every `main` hands to
//! [`run`] before parsing its command line.
//!
//! [`locate`] walks the plugin's own clap definition over the words the way
//! clap will parse them (subcommands, `--flag value`, `--flag=value`,
//! `-n value`, positionals), so subcommands, flags and fixed value sets
//! complete from the one definition; values that live in the cluster or on
//! disk (namespaces, contexts, release names, revisions, CRD names,
//! environments) come from a [`Provider`] the plugin passes in, with
//! namespaces and kubeconfig names answered here for all five. Completion
//! never prints an error: a cluster that cannot be reached gives no
//! candidates within [`TIMEOUT`].

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, Command, ValueHint};
use futures::future::BoxFuture;

use crate::kubeconfig::KubeArgs;

/// The hidden first argument that asks for completions.
pub const REQUEST: &str = "__complete";

/// Cobra's directive: the shell may fall back to file names.
pub const DIRECTIVE_DEFAULT: u8 = 0;
/// Cobra's directive: no file-name completion.
pub const DIRECTIVE_NO_FILES: u8 = 4;

/// How long a completion may wait for the cluster.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What is being completed: the value of `arg` in the subcommand `path`,
/// with everything typed before it.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Subcommand names from the root (`["rollback"]`).
    pub path: Vec<String>,
    /// The clap id of the argument whose value is completed (`release`).
    pub arg: String,
    /// Values already typed, by clap id (flags and positionals).
    pub seen: BTreeMap<String, Vec<String>>,
}

impl Query {
    /// The first value typed for `id`.
    pub fn value(&self, id: &str) -> Option<&str> {
        self.seen.get(id)?.first().map(String::as_str)
    }

    /// True when the flag `id` was given (`-A`).
    pub fn flag(&self, id: &str) -> bool {
        self.seen.contains_key(id)
    }

    /// The connection flags typed so far (`-n`, `--context`, ...).
    pub fn kube_args(&self) -> KubeArgs {
        let s = |id: &str| self.value(id).map(str::to_string);
        KubeArgs {
            kubeconfig: s("kubeconfig").map(Into::into),
            context: s("context"),
            cluster: s("cluster"),
            user: s("user"),
            namespace: s("namespace"),
            server: s("server"),
            token: s("token"),
            insecure_skip_tls_verify: self.flag("insecure_skip_tls_verify"),
            request_timeout: Some("5s".into()),
            ..KubeArgs::default()
        }
    }
}

/// What a [`Provider`] returns: `None` when it has nothing for the argument.
pub type Values = BoxFuture<'static, anyhow::Result<Option<Vec<String>>>>;

/// A plugin's source of values that are not in its clap definition. An
/// empty `query.arg` is the word where a subcommand is expected, for a
/// plugin whose default command takes a value there (`pack-drift RELEASE`).
pub type Provider = fn(Query) -> Values;

/// A provider with nothing of its own (namespaces and kubeconfig names
/// still complete).
pub fn no_values(_: Query) -> Values {
    Box::pin(async { Ok(None) })
}

/// The words to complete when the process was started as
/// `PLUGIN __complete WORD...`.
pub fn requested() -> Option<Vec<String>> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != REQUEST {
        return None;
    }
    Some(
        args.map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
    )
}

/// Answers one completion request on stdout and exits 0.
pub fn run(command: Command, words: Vec<String>, provider: Provider) -> ExitCode {
    crate::cli::run(crate::cli::ErrorCode::Standard, async move {
        let (candidates, directive) = answer(command, &words, provider).await;
        let mut out = std::io::stdout().lock();
        for c in candidates {
            writeln!(out, "{c}")?;
        }
        writeln!(out, ":{directive}")?;
        Ok(crate::output::exit::OK)
    })
}

/// The candidates (`value` or `value<TAB>help`) and the directive for
/// `words`, the last of which is the partial word.
pub async fn answer(command: Command, words: &[String], provider: Provider) -> (Vec<String>, u8) {
    let mut command = command;
    command.build();
    let (partial, typed) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let spot = locate(&command, typed, partial);
    match spot.want {
        Want::Flags => (flags(spot.command, partial), DIRECTIVE_NO_FILES),
        Want::Subcommands => {
            let mut all = subcommands(spot.command, partial);
            if let Some(arg) = spot.positional {
                let (values, directive) = values_of(arg, &spot.query, provider, partial, "").await;
                all.extend(values);
                return (all, directive);
            } else {
                let list = plugin_values(spot.query.clone(), provider).await;
                let list = list.into_iter().map(|v| (v, String::new())).collect();
                all.extend(filtered(list, partial, ""));
            }
            (all, DIRECTIVE_NO_FILES)
        }
        Want::Value(arg, prefix) => {
            let typed = partial.strip_prefix(&prefix).unwrap_or(partial);
            values_of(arg, &spot.query, provider, typed, &prefix).await
        }
        Want::Nothing => (Vec::new(), DIRECTIVE_NO_FILES),
    }
}

/// What the partial word should become.
enum Want<'a> {
    /// A flag name.
    Flags,
    /// A subcommand name (or the first positional, when the command has one).
    Subcommands,
    /// A value of this argument; candidates are printed after the prefix
    /// (`--output=`).
    Value(&'a Arg, String),
    /// Nothing more is accepted.
    Nothing,
}

/// Where the words lead in the command tree.
struct Spot<'a> {
    command: &'a Command,
    want: Want<'a>,
    positional: Option<&'a Arg>,
    query: Query,
}

/// Walks `typed` through `root` as clap will parse it, then decides what
/// `partial` completes to.
fn locate<'a>(root: &'a Command, typed: &[String], partial: &str) -> Spot<'a> {
    let mut cmd = root;
    let mut query = Query::default();
    let mut positionals = 0usize;
    let mut pending: Option<&'a Arg> = None;
    let mut only_positionals = false;
    for word in typed {
        if let Some(arg) = pending.take() {
            record(&mut query, arg, word);
            continue;
        }
        if !only_positionals && word == "--" {
            only_positionals = true;
        } else if !only_positionals && word.starts_with("--") {
            let (name, inline) = match word[2..].split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (&word[2..], None),
            };
            if let Some(arg) = long(cmd, name) {
                match inline {
                    Some(v) => record(&mut query, arg, v),
                    None if needs_value(arg) => pending = Some(arg),
                    None => record(&mut query, arg, ""),
                }
            }
        } else if !only_positionals && word.len() > 1 && word.starts_with('-') {
            pending = shorts(cmd, &word[1..], &mut query);
        } else if positionals == 0
            && let Some(sub) = cmd.find_subcommand(word)
        {
            cmd = sub;
            query.path.push(sub.get_name().to_string());
        } else {
            if let Some(arg) = positional(cmd, positionals) {
                record(&mut query, arg, word);
            }
            positionals += 1;
        }
    }
    let want = if let Some(arg) = pending {
        Want::Value(arg, String::new())
    } else if let Some(rest) = partial.strip_prefix("--")
        && let Some((name, _)) = rest.split_once('=')
    {
        match long(cmd, name) {
            Some(arg) => Want::Value(arg, format!("--{name}=")),
            None => Want::Nothing,
        }
    } else if partial.starts_with('-') {
        Want::Flags
    } else if positionals == 0 && cmd.has_subcommands() {
        Want::Subcommands
    } else {
        match positional(cmd, positionals) {
            Some(arg) => Want::Value(arg, String::new()),
            None => Want::Nothing,
        }
    };
    // A command with both subcommands and positionals (render's
    // `[RELEASE] PACK`) offers both.
    let positional = match want {
        Want::Subcommands => positional(cmd, 0),
        _ => None,
    };
    if let Want::Value(arg, _) = &want {
        query.arg = arg.get_id().to_string();
    }
    Spot {
        command: cmd,
        want,
        positional,
        query,
    }
}

fn record(query: &mut Query, arg: &Arg, value: &str) {
    query
        .seen
        .entry(arg.get_id().to_string())
        .or_default()
        .push(value.to_string());
}

/// Short flags in one word (`-A`, `-n`, `-nfoo`, `-Ao`): records them and
/// returns the flag whose value is the next word.
fn shorts<'a>(cmd: &'a Command, letters: &str, query: &mut Query) -> Option<&'a Arg> {
    for (i, c) in letters.char_indices() {
        let arg = cmd.get_arguments().find(|a| a.get_short() == Some(c))?;
        if !needs_value(arg) {
            record(query, arg, "");
            continue;
        }
        let rest = letters[i + c.len_utf8()..].trim_start_matches('=');
        if rest.is_empty() {
            return Some(arg);
        }
        record(query, arg, rest);
        return None;
    }
    None
}

fn long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name)
            || a.get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

/// True when the flag takes its value from the next word (not a switch,
/// not a `--wait[=BOOL]`-style optional value).
fn needs_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

/// The positional at `index` (a last one taking many values absorbs the rest).
fn positional(cmd: &Command, index: usize) -> Option<&Arg> {
    let all: Vec<&Arg> = cmd.get_positionals().collect();
    all.get(index).copied().or_else(|| {
        all.last()
            .copied()
            .filter(|a| a.get_num_args().is_some_and(|n| n.max_values() > 1))
    })
}

fn flags(cmd: &Command, partial: &str) -> Vec<String> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let help = help_of(arg.get_help());
        if let Some(l) = arg.get_long() {
            out.push((format!("--{l}"), help.clone()));
        }
        if partial.len() <= 2
            && let Some(s) = arg.get_short()
        {
            out.push((format!("-{s}"), help));
        }
    }
    out.push(("--help".into(), "Print help".into()));
    filtered(out, partial, "")
}

fn subcommands(cmd: &Command, partial: &str) -> Vec<String> {
    let list = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| (s.get_name().to_string(), help_of(s.get_about())))
        .collect();
    filtered(list, partial, "")
}

fn help_of(text: Option<&clap::builder::StyledStr>) -> String {
    text.map(|t| t.to_string())
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_string()
}

/// Candidates starting with `partial`, each printed after `prefix`.
fn filtered(list: Vec<(String, String)>, partial: &str, prefix: &str) -> Vec<String> {
    list.into_iter()
        .filter(|(value, _)| value.starts_with(partial))
        .map(|(value, help)| match help.is_empty() {
            true => format!("{prefix}{value}"),
            false => format!("{prefix}{value}\t{help}"),
        })
        .collect()
}

/// The values of `arg`: its fixed set, else file names for path-like
/// arguments, else what the cluster or the plugin knows.
async fn values_of(
    arg: &Arg,
    query: &Query,
    provider: Provider,
    partial: &str,
    prefix: &str,
) -> (Vec<String>, u8) {
    let fixed: Vec<(String, String)> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| (v.get_name().to_string(), help_of(v.get_help())))
        .collect();
    if !fixed.is_empty() {
        return (filtered(fixed, partial, prefix), DIRECTIVE_NO_FILES);
    }
    if is_path(arg) {
        return (Vec::new(), DIRECTIVE_DEFAULT);
    }
    let mut q = query.clone();
    q.arg = arg.get_id().to_string();
    let list = plugin_values(q, provider).await;
    let list = list.into_iter().map(|v| (v, String::new())).collect();
    (filtered(list, partial, prefix), DIRECTIVE_NO_FILES)
}

/// The dynamic values for `query`, none when they cannot be had in time.
async fn plugin_values(query: Query, provider: Provider) -> Vec<String> {
    match tokio::time::timeout(TIMEOUT, dynamic(query, provider)).await {
        Ok(Ok(Some(values))) => values,
        _ => Vec::new(),
    }
}

/// True for arguments that name files or directories.
fn is_path(arg: &Arg) -> bool {
    if matches!(
        arg.get_value_hint(),
        ValueHint::FilePath | ValueHint::DirPath | ValueHint::AnyPath
    ) {
        return true;
    }
    let names = arg.get_value_names().unwrap_or_default();
    names.iter().any(|n| {
        let n = n.as_str();
        n.contains("FILE") || n.contains("DIR") || n.contains("PACK") || n == "PATH"
    })
}

/// The plugin's values first, then the ones every plugin shares.
async fn dynamic(query: Query, provider: Provider) -> anyhow::Result<Option<Vec<String>>> {
    if let Some(values) = provider(query.clone()).await? {
        return Ok(Some(values));
    }
    match query.arg.as_str() {
        "namespace" => cluster_names::<k8s_openapi::api::core::v1::Namespace>(&query)
            .await
            .map(Some),
        "context" | "cluster" | "user" => Ok(Some(kubeconfig_names(&query)?)),
        _ => Ok(None),
    }
}

/// The names of every object of a cluster-scoped kind.
async fn cluster_names<K>(query: &Query) -> anyhow::Result<Vec<String>>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let k = query.kube_args().connect().await?;
    let api: kube::Api<K> = kube::Api::all(k.client);
    let list = api.list_metadata(&Default::default()).await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect())
}

fn kubeconfig_names(query: &Query) -> anyhow::Result<Vec<String>> {
    let sources = crate::kubeconfig::KubeconfigSources::from_process();
    let path = query.value("kubeconfig").map(std::path::Path::new);
    let Some(kc) = crate::kubeconfig::load_kubeconfig(path, &sources)? else {
        return Ok(Vec::new());
    };
    Ok(match query.arg.as_str() {
        "context" => kc.contexts.into_iter().map(|c| c.name).collect(),
        "cluster" => kc.clusters.into_iter().map(|c| c.name).collect(),
        _ => kc.auth_infos.into_iter().map(|u| u.name).collect(),
    })
}

/// Release names in the query's namespace (or every namespace with `-A`)
/// from its `--storage`, for the plugins that take a RELEASE.
pub async fn releases(query: &Query) -> anyhow::Result<Vec<String>> {
    let store = store(query).await?;
    let all = query.flag("all_namespaces");
    let mut names: Vec<String> = store
        .releases(all)
        .await?
        .into_iter()
        .map(|(_, name, _, _)| name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The revisions of the release typed as `release`, newest first.
pub async fn revisions(query: &Query) -> anyhow::Result<Vec<String>> {
    let Some(release) = query.value("release") else {
        return Ok(Vec::new());
    };
    let store = store(query).await?;
    let mut revs: Vec<u32> = store
        .history(release)
        .await?
        .iter()
        .map(|r| r.revision)
        .collect();
    revs.sort_unstable_by(|a, b| b.cmp(a));
    Ok(revs.into_iter().map(|r| r.to_string()).collect())
}

async fn store(query: &Query) -> anyhow::Result<crate::release::store::Store> {
    let k = query.kube_args().connect().await?;
    let args = crate::release::args::StorageArgs {
        storage: query.value("storage").unwrap_or("secret").to_string(),
    };
    crate::release::args::store(&k, &args)
}

/// The names of the CustomResourceDefinitions on the server.
pub async fn crd_names(query: &Query) -> anyhow::Result<Vec<String>> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    cluster_names::<CustomResourceDefinition>(query).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn cli() -> Command {
        let mut c = Command::new("p")
            .arg(
                Arg::new("namespace")
                    .short('n')
                    .long("namespace")
                    .global(true),
            )
            .subcommand(
                Command::new("rollback")
                    .arg(Arg::new("release"))
                    .arg(Arg::new("revision"))
                    .arg(Arg::new("all").short('A').action(ArgAction::SetTrue))
                    .arg(
                        Arg::new("output")
                            .short('o')
                            .long("output")
                            .value_parser(["json", "yaml"]),
                    ),
            );
        c.build();
        c
    }

    fn spot(words: &[&str]) -> (String, Vec<String>, BTreeMap<String, Vec<String>>) {
        let c = cli();
        let owned: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let (partial, typed) = owned.split_last().expect("words");
        let s = locate(&c, typed, partial);
        let want = match s.want {
            Want::Flags => "flags".to_string(),
            Want::Subcommands => "subcommands".to_string(),
            Want::Value(arg, prefix) => format!("{}{prefix}", arg.get_id()),
            Want::Nothing => "nothing".to_string(),
        };
        (want, s.query.path, s.query.seen)
    }

    #[test]
    fn words_are_walked_as_clap_parses_them() {
        assert_eq!(spot(&[""]).0, "subcommands");
        assert_eq!(spot(&["rollback", ""]).0, "release");
        assert_eq!(spot(&["rollback", "-n", "x", "app", ""]).0, "revision");
        assert_eq!(spot(&["rollback", "-nx", "app", ""]).2["namespace"], ["x"]);
        assert_eq!(
            spot(&["rollback", "--namespace=x", "-A", "app", ""]).2["release"],
            ["app"]
        );
        assert_eq!(spot(&["rollback", "-n", ""]).0, "namespace");
        assert_eq!(spot(&["rollback", "-An", ""]).0, "namespace");
        assert_eq!(spot(&["rollback", "--output="]).0, "output--output=");
        assert_eq!(spot(&["rollback", "--"]).0, "flags");
        assert_eq!(spot(&["rollback", "a", "1", ""]).0, "nothing");
        assert_eq!(spot(&["rollback", ""]).1, ["rollback"]);
    }
}
