//! Secret references: `vault://MOUNT/PATH[?version=N][#key]`,
//! `aws-sm://ID`, `aws-ssm://PATH`, `gcp-sm://projects/P/secrets/S[/versions/V]`,
//! `azure-kv://VAULT/NAME[/VERSION]`.

/// Which provider a reference points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `vault://MOUNT/PATH`.
    Vault,
    /// `aws-sm://SECRET-ID`.
    AwsSm,
    /// `aws-ssm://PATH` (a trailing `/` reads every parameter under it).
    AwsSsm,
    /// `gcp-sm://projects/P/secrets/S[/versions/V]`.
    GcpSm,
    /// `azure-kv://VAULT/NAME[/VERSION]`.
    AzureKv,
}

impl Kind {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            Kind::Vault => "vault",
            Kind::AwsSm => "aws-sm",
            Kind::AwsSsm => "aws-ssm",
            Kind::GcpSm => "gcp-sm",
            Kind::AzureKv => "azure-kv",
        }
    }

    /// Parses a scheme or provider name (also the long names ESO uses).
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "vault" => Kind::Vault,
            "aws-sm" | "aws-secretsmanager" | "aws-secrets-manager" => Kind::AwsSm,
            "aws-ssm" | "aws-parameterstore" | "aws-parameter-store" => Kind::AwsSsm,
            "gcp-sm" | "gcp-secretmanager" => Kind::GcpSm,
            "azure-kv" | "azure-keyvault" => Kind::AzureKv,
            _ => return None,
        })
    }
}

/// A parsed secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRef {
    /// The provider.
    pub kind: Kind,
    /// Provider path (without scheme, version and key).
    pub path: String,
    /// One key of the secret (`#key`, or a spec's `property`).
    pub key: Option<String>,
    /// Version (`?version=`, GCP/Azure path suffix, or a spec's `version`).
    pub version: Option<String>,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.kind.scheme(), self.path)?;
        if let Some(v) = &self.version {
            write!(f, "?version={v}")?;
        }
        if let Some(k) = &self.key {
            write!(f, "#{k}")?;
        }
        Ok(())
    }
}

impl SecretRef {
    /// Parses `scheme://path[?version=V][#key]`.
    pub fn parse(s: &str) -> Result<SecretRef, String> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| {
            format!("{s}: not a provider reference; use vault://, aws-sm://, aws-ssm://, gcp-sm:// or azure-kv://")
        })?;
        let kind = Kind::parse(scheme).ok_or_else(|| {
            format!(
                "{s}: unknown provider '{scheme}'; use vault, aws-sm, aws-ssm, gcp-sm or azure-kv"
            )
        })?;
        let (rest, key) = match rest.split_once('#') {
            Some((r, k)) if !k.is_empty() => (r, Some(k.to_string())),
            Some((r, _)) => (r, None),
            None => (rest, None),
        };
        let (path, version) = match rest.split_once("?version=") {
            Some((p, v)) => (p.to_string(), Some(v.to_string())),
            None => (rest.to_string(), None),
        };
        if path.trim_matches('/').is_empty() {
            return Err(format!("{s}: empty secret path"));
        }
        let mut r = SecretRef {
            kind,
            path,
            key,
            version,
        };
        r.normalize().map_err(|e| format!("{s}: {e}"))?;
        Ok(r)
    }

    /// Moves path-encoded versions into `version` and checks the shape.
    fn normalize(&mut self) -> Result<(), String> {
        match self.kind {
            Kind::Vault => {
                if !self.path.contains('/') {
                    return Err("expected vault://MOUNT/PATH".into());
                }
            }
            Kind::GcpSm => {
                let path = self.path.clone();
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                match parts.as_slice() {
                    ["projects", p, "secrets", s] => {
                        self.path = format!("projects/{p}/secrets/{s}")
                    }
                    ["projects", p, "secrets", s, "versions", v] => {
                        self.path = format!("projects/{p}/secrets/{s}");
                        self.version = Some(v.to_string());
                    }
                    _ => return Err("expected gcp-sm://projects/P/secrets/S[/versions/V]".into()),
                }
            }
            Kind::AzureKv => {
                let path = self.path.clone();
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                match parts.as_slice() {
                    [vault, name] => self.path = format!("{vault}/{name}"),
                    [vault, name, version] => {
                        self.path = format!("{vault}/{name}");
                        self.version = Some(version.to_string());
                    }
                    _ => return Err("expected azure-kv://VAULT/NAME[/VERSION]".into()),
                }
            }
            Kind::AwsSm | Kind::AwsSsm => {}
        }
        Ok(())
    }

    /// The name a single value gets when the secret is not a map: the key,
    /// or the last path segment.
    pub fn default_key(&self) -> String {
        if let Some(k) = &self.key {
            return k.clone();
        }
        let last = self
            .path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("value");
        let clean: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            "value".into()
        } else {
            clean
        }
    }
}
