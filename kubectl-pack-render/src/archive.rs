//! Pack archives: `package` writes one, `render` reads one.
//!
//! An archive is a gzip-compressed tar of the pack's files under one top
//! folder named after the pack (Helm's chart layout). It is reproducible:
//! entries in byte order of their paths, every timestamp 0, owner 0/0 with
//! no names, modes 0644 (0755 for executables), the gzip header without
//! time or file name — the same pack gives the same bytes, so the same
//! digest, on any machine and at any time. `.git/` and what `.packignore`
//! lists (globs, one per line, `#` comments) stay out; a symlink in the
//! pack is refused rather than followed out of it.
//!
//! Reading is for hostile input: only regular files and folders, every path
//! relative without `..`, one top folder, at most [`MAX_ENTRIES`] entries
//! and [`MAX_UNPACKED`] bytes unpacked (and [`MAX_ARCHIVE`] packed); each
//! violation is one error naming the archive and the entry, and nothing is
//! rendered.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::Digest;

/// Largest archive read (compressed).
pub const MAX_ARCHIVE: u64 = 32 * 1024 * 1024;
/// Largest total of the files in an archive, unpacked.
pub const MAX_UNPACKED: u64 = 64 * 1024 * 1024;
/// Most entries an archive may hold.
pub const MAX_ENTRIES: usize = 10_000;

/// What `package` wrote.
#[derive(Debug)]
pub struct Packaged {
    /// The archive file.
    pub path: PathBuf,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
}

/// True when `path` names a pack archive rather than a folder.
pub fn is_archive(path: &str) -> bool {
    (path.ends_with(".tgz") || path.ends_with(".tar.gz")) && Path::new(path).is_file()
}

/// `sha256:<hex>` of `bytes`, as OCI and Helm's index spell digests.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

/// `kubectl pack-render package PACK [-d DIR]`: the archive's path on
/// stdout (for the next command), its digest on stderr.
pub fn run_package(args: &crate::cli::PackageArgs) -> Result<u8> {
    use std::io::Write;
    let done = package(&args.pack, &args.destination)?;
    writeln!(std::io::stdout().lock(), "{}", done.path.display())?;
    shared::output::info(&format!(
        "packaged {} ({})",
        done.path.display(),
        done.digest
    ));
    Ok(shared::output::exit::OK)
}

/// Writes `<name>-<version>.tgz` of the pack in `pack_dir` into `dest`.
pub fn package(pack_dir: &Path, dest: &Path) -> Result<Packaged> {
    let pack = crate::pack::Pack::load(pack_dir)?;
    let meta = &pack.file.metadata;
    if meta.name.is_empty() || meta.version.is_empty() {
        bail!(
            "{}: Pack.yaml needs metadata.name and metadata.version to be packaged",
            pack_dir.display()
        );
    }
    let bytes = archive_bytes(pack_dir, &meta.name)?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let path = dest.join(format!("{}-{}.tgz", meta.name, meta.version));
    shared::files::write_atomic(&path, &bytes, 0o644)?;
    Ok(Packaged {
        digest: digest_of(&bytes),
        path,
    })
}

/// The reproducible archive of the files under `pack_dir`, in `top/`.
pub fn archive_bytes(pack_dir: &Path, top: &str) -> Result<Vec<u8>> {
    let ignore = ignore_rules(pack_dir)?;
    let mut files = Vec::new();
    collect(pack_dir, pack_dir, &ignore, &mut files)?;
    files.sort();
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for rel in &files {
        let path = pack_dir.join(rel);
        let data =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let executable = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0
        };
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(if executable { 0o755 } else { 0o644 });
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        let name = format!("{top}/{rel}");
        tar.append_data(&mut header, &name, data.as_slice())
            .with_context(|| format!("cannot add {name} to the archive"))?;
    }
    let gz = tar.into_inner().context("cannot finish the archive")?;
    gz.finish().context("cannot compress the archive")
}

/// `.packignore` globs (plus `.git/` always).
fn ignore_rules(pack_dir: &Path) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for g in [".git", ".git/**"] {
        b.add(globset::Glob::new(g)?);
    }
    let file = pack_dir.join(".packignore");
    if let Ok(text) = std::fs::read_to_string(&file) {
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let pattern = line.trim_end_matches('/');
            for g in [pattern.to_string(), format!("{pattern}/**")] {
                b.add(
                    globset::Glob::new(&g)
                        .with_context(|| format!("{}: '{line}' is not a glob", file.display()))?,
                );
            }
        }
    }
    Ok(b.build()?)
}

/// Relative paths (with `/`) of the regular files under `dir`.
fn collect(
    root: &Path,
    dir: &Path,
    ignore: &globset::GlobSet,
    out: &mut Vec<String>,
) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .context("a path outside the pack")?
            .to_string_lossy()
            .replace('\\', "/");
        if ignore.is_match(&rel) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            bail!(
                "{}: a symlink; a pack archive holds regular files only (copy the file in, or list it in .packignore)",
                path.display()
            );
        } else if kind.is_dir() {
            collect(root, &path, ignore, out)?;
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

/// Unpacks the archive at `path` into a new temporary folder; returns the
/// folder (removed when dropped) and the pack inside it.
pub fn unpack_file(path: &Path) -> Result<(tempfile::TempDir, PathBuf)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ARCHIVE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ARCHIVE {
        bail!(
            "{}: the archive is over {} MiB; a pack archive holds templates and values, not data",
            path.display(),
            MAX_ARCHIVE / 1024 / 1024
        );
    }
    unpack(&path.display().to_string(), &bytes)
}

/// Unpacks archive `bytes` (named `what` in errors) into a new temporary
/// folder; returns it and the pack folder inside.
pub fn unpack(what: &str, bytes: &[u8]) -> Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("kubectl-pack-archive-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut tar = tar::Archive::new(gz.take(MAX_UNPACKED + 1024 * 1024));
    let mut top: Option<String> = None;
    let mut total = 0u64;
    let entries = tar
        .entries()
        .with_context(|| format!("{what}: not a gzip-compressed tar archive"))?;
    for (n, entry) in entries.enumerate() {
        let mut entry = entry.with_context(|| format!("{what}: not a readable tar archive"))?;
        if n >= MAX_ENTRIES {
            bail!("{what}: more than {MAX_ENTRIES} entries; refused");
        }
        let name = entry.path()?.to_string_lossy().into_owned();
        let rel = checked_path(what, &name)?;
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => bail!(
                "{what}: entry {name} is outside the pack folder {t}/; a pack archive holds one folder"
            ),
            Some(_) => {}
        }
        let target = dir.path().join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&target)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                total += entry.header().size()?;
                if total > MAX_UNPACKED {
                    bail!(
                        "{what}: over {} MiB unpacked; refused",
                        MAX_UNPACKED / 1024 / 1024
                    );
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut data = Vec::new();
                (&mut entry).take(MAX_UNPACKED).read_to_end(&mut data)?;
                std::fs::write(&target, data)
                    .with_context(|| format!("cannot write {}", target.display()))?;
            }
            // pax/GNU headers that only carry metadata for the next entry.
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => {}
            other => bail!(
                "{what}: entry {name} is a {}; a pack archive holds regular files only",
                kind_name(other)
            ),
        }
    }
    let Some(top) = top else {
        bail!("{what}: the archive is empty");
    };
    let pack = dir.path().join(&top);
    if !pack.join("Pack.yaml").is_file() {
        bail!("{what}: no {top}/Pack.yaml in the archive; is it a pack archive?");
    }
    Ok((dir, pack))
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "fifo",
        _ => "special entry",
    }
}

/// `name` as a relative path of normal components only.
fn checked_path(what: &str, name: &str) -> Result<PathBuf> {
    let path = Path::new(name);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => bail!(
                "{what}: entry {name} points outside the archive ('..' or an absolute path); refused"
            ),
        }
    }
    if out.as_os_str().is_empty() {
        bail!("{what}: an entry without a name; refused");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::create_dir_all(p.join("templates")).expect("mkdir");
        std::fs::write(
            p.join("Pack.yaml"),
            "apiVersion: sherpack/v1\nkind: application\nmetadata: {name: demo, version: 1.2.0}\n",
        )
        .expect("write");
        std::fs::write(p.join("values.yaml"), "a: 1\n").expect("write");
        std::fs::write(p.join("templates/cm.yaml"), "kind: ConfigMap\n").expect("write");
        std::fs::write(p.join(".packignore"), "secret.txt\n").expect("write");
        std::fs::write(p.join("secret.txt"), "x").expect("write");
        dir
    }

    #[test]
    fn the_same_pack_gives_the_same_bytes_and_unpacks_whole() {
        let p = pack();
        let a = archive_bytes(p.path(), "demo").expect("archive");
        // Newer files, same content: same bytes.
        std::fs::write(p.path().join("values.yaml"), "a: 1\n").expect("touch");
        let b = archive_bytes(p.path(), "demo").expect("archive");
        assert_eq!(digest_of(&a), digest_of(&b));
        let (_tmp, dir) = unpack("demo.tgz", &a).expect("unpack");
        assert_eq!(
            std::fs::read_to_string(dir.join("templates/cm.yaml")).expect("read"),
            "kind: ConfigMap\n"
        );
        assert!(!dir.join("secret.txt").exists(), ".packignore");
    }

    fn tar_with(path: &str, kind: tar::EntryType) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o644);
        if kind == tar::EntryType::Symlink {
            h.set_link_name("/etc/passwd").expect("link");
        }
        // Written raw: the tar crate refuses to write '..' itself.
        h.as_gnu_mut().expect("gnu").name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, std::io::empty()).expect("append");
        b.into_inner().expect("tar").finish().expect("gz")
    }

    #[test]
    fn hostile_archives_are_refused_naming_the_entry() {
        for (path, kind, says) in [
            ("demo/../../evil", tar::EntryType::Regular, "points outside"),
            ("/etc/evil", tar::EntryType::Regular, "points outside"),
            ("demo/link", tar::EntryType::Symlink, "is a symlink"),
        ] {
            let err = unpack("bad.tgz", &tar_with(path, kind))
                .expect_err(path)
                .to_string();
            assert!(
                err.starts_with("bad.tgz: entry") && err.contains(says),
                "{err}"
            );
        }
        let err = unpack("bad.tgz", b"not gzip")
            .expect_err("garbage")
            .to_string();
        assert!(err.starts_with("bad.tgz:"), "{err}");
    }
}
