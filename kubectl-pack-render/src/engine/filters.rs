//! The template filters of the Sherpack format, beyond minijinja's
//! built-ins (some built-ins are replaced to match Helm: `indent` indents
//! the first line too; `tojson` keeps non-ASCII as is).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};
use sha2::Digest;

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// minijinja value -> JSON.
pub(crate) fn to_json(value: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(value).map_err(|e| invalid(format!("cannot convert to JSON: {e}")))
}

/// JSON -> minijinja value.
pub(crate) fn from_json(value: &serde_json::Value) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A string as the templates see it: strings as is, other values as printed
/// in YAML (`true`, `null`, numbers).
pub(crate) fn display(value: &Value) -> String {
    text_of(value).into_owned()
}

/// [`display`] without a copy when the value is a string.
pub(crate) fn text_of(value: &Value) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match value.kind() {
        ValueKind::String => Cow::Borrowed(value.as_str().unwrap_or_default()),
        ValueKind::None | ValueKind::Undefined => Cow::Borrowed(""),
        ValueKind::Bool => Cow::Borrowed(if value.is_true() { "true" } else { "false" }),
        _ => Cow::Owned(value.to_string()),
    }
}

fn regex(pattern: &str) -> Result<Arc<regex::Regex>, Error> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(re) = map.get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(
        regex::Regex::new(pattern)
            .map_err(|e| invalid(format!("invalid regex {pattern:?}: {e}")))?,
    );
    if map.len() > 1024 {
        map.clear();
    }
    map.insert(pattern.to_string(), re.clone());
    Ok(re)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

thread_local! {
    static TOYAML: Memo = const { std::cell::RefCell::new(Vec::new()) };
    static TOJSON: Memo = const { std::cell::RefCell::new(Vec::new()) };
}

/// The last few (value, text) pairs a serializing filter produced on this
/// thread; values kept here stay alive, so an address is never reused
/// while it is a key.
type Memo = std::cell::RefCell<Vec<(Value, Value)>>;

/// How many values each memo remembers.
const MEMO_SIZE: usize = 8;

/// `make()` for `value`, remembered per map or list *object*: templates
/// serialize the same part of the values (`values.config | toyaml`) in
/// template after template, and a context's maps and lists never change.
/// Other values (strings, numbers, objects of other types such as the
/// coverage tracker, which must see every read) are always serialized.
fn memoized(
    memo: &'static std::thread::LocalKey<Memo>,
    value: &Value,
    make: impl FnOnce() -> Result<String, Error>,
) -> Result<Value, Error> {
    fn address(v: &Value) -> Option<usize> {
        let map = v.downcast_object_ref::<std::collections::BTreeMap<Value, Value>>();
        let list = v.downcast_object_ref::<Vec<Value>>();
        map.map(|m| m as *const _ as usize)
            .or(list.map(|l| l as *const _ as usize))
    }
    let Some(key) = address(value) else {
        return make().map(Value::from);
    };
    let hit = memo.with_borrow(|m| {
        m.iter()
            .find(|(v, _)| address(v) == Some(key))
            .map(|(_, text)| text.clone())
    });
    if let Some(text) = hit {
        return Ok(text);
    }
    let text = Value::from(make()?);
    memo.with_borrow_mut(|m| {
        if m.len() == MEMO_SIZE {
            m.remove(0);
        }
        m.push((value.clone(), text.clone()));
    });
    Ok(text)
}

fn indent_lines(text: &str, width: usize) -> String {
    let mut out = String::new();
    indent_into(&mut out, text, width);
    out
}

/// Appends `text` to `out` with every non-empty line indented by `width`.
fn indent_into(out: &mut String, text: &str, width: usize) {
    let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
    out.reserve(text.len() + width * lines);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', width));
        }
        out.push_str(line);
    }
}

fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn capitalized(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

fn seq_items(v: &Value, filter: &str) -> Result<Vec<Value>, Error> {
    if v.kind() != ValueKind::Seq {
        return Err(invalid(format!("{filter} needs a list, got {}", v.kind())));
    }
    Ok(v.try_iter()?.collect())
}

fn map_entries(v: &Value, filter: &str) -> Result<Vec<(Value, Value)>, Error> {
    if v.kind() != ValueKind::Map {
        return Err(invalid(format!("{filter} needs a dict, got {}", v.kind())));
    }
    let mut out = Vec::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        out.push((k, val));
    }
    Ok(out)
}

fn deep_merge(base: &mut serde_json::Value, overlay: &serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn number_f64(v: &Value) -> Result<f64, Error> {
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).map_err(|_| invalid("not a number")),
        ValueKind::String => v
            .as_str()
            .unwrap_or_default()
            .trim()
            .parse()
            .map_err(|_| invalid(format!("cannot parse {v:?} as a number"))),
        ValueKind::Bool => Ok(if v.is_true() { 1.0 } else { 0.0 }),
        k => Err(invalid(format!("expected a number, got {k}"))),
    }
}

/// Converts to an integer (floats truncate, strings parse, bools 0/1).
pub(crate) fn to_int(v: &Value) -> Result<i64, Error> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    if v.kind() == ValueKind::String {
        let s = v.as_str().unwrap_or_default().trim();
        if let Ok(i) = s.parse::<i64>() {
            return Ok(i);
        }
    }
    Ok(number_f64(v)? as i64)
}

/// Converts to a float.
pub(crate) fn to_float(v: &Value) -> Result<f64, Error> {
    number_f64(v)
}

/// Parses YAML text into a value (empty text is an empty dict).
pub(crate) fn parse_yaml(text: &str) -> Result<Value, Error> {
    let v: serde_json::Value =
        shared::yaml::from_str(text).map_err(|e| invalid(format!("fromyaml: {}", e.message)))?;
    Ok(from_json(&if v.is_null() {
        serde_json::json!({})
    } else {
        v
    }))
}

/// Parses JSON text into a value.
pub(crate) fn parse_json(text: &str) -> Result<Value, Error> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("fromjson: {e}")))?;
    Ok(from_json(&v))
}

fn semver_of(s: &str) -> Result<semver::Version, Error> {
    let clean = s.trim().trim_start_matches('v');
    if let Ok(v) = semver::Version::parse(clean) {
        return Ok(v);
    }
    let core = clean.split(['-', '+']).next().unwrap_or(clean);
    let mut parts = core.split('.').map(|p| p.parse::<u64>());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Ok(semver::Version::new(a, b, c)),
        (Some(Ok(a)), Some(Ok(b)), None) => Ok(semver::Version::new(a, b, 0)),
        (Some(Ok(a)), None, None) => Ok(semver::Version::new(a, 0, 0)),
        _ => Err(invalid(format!("invalid version {s:?}"))),
    }
}

/// Semver range test used by `semver_match` and dependency resolution.
pub(crate) fn semver_matches(version: &str, constraint: &str) -> Result<bool, Error> {
    let v = semver_of(version)?;
    let cleaned: String = constraint
        .split(',')
        .map(|part| {
            let p = part.trim();
            // Kubernetes-style ">=1.21.0-0": drop the pre-release floor.
            p.strip_suffix("-0").unwrap_or(p).to_string()
        })
        .collect::<Vec<_>>()
        .join(", ");
    let req = semver::VersionReq::parse(&cleaned)
        .map_err(|e| invalid(format!("invalid constraint {constraint:?}: {e}")))?;
    Ok(req.matches(&semver::Version::new(v.major, v.minor, v.patch)))
}

/// Registers every filter on `env`.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("toyaml", |v: Value| -> Result<Value, Error> {
        memoized(&TOYAML, &v, || {
            // Straight from the template value (no JSON copy in between).
            let s = shared::yaml::to_string(&v).map_err(|e| invalid(e.to_string()))?;
            Ok(s.trim_end_matches('\n').to_string())
        })
    });
    env.add_filter("tojson", |v: Value| -> Result<Value, Error> {
        memoized(&TOJSON, &v, || {
            serde_json::to_string(&v).map_err(|e| invalid(e.to_string()))
        })
    });
    env.add_filter("tojson_pretty", |v: Value| -> Result<String, Error> {
        serde_json::to_string_pretty(&to_json(&v)?).map_err(|e| invalid(e.to_string()))
    });
    env.add_filter("fromjson", |s: String| parse_json(&s));
    env.add_filter("fromyaml", |s: String| parse_yaml(&s));
    env.add_filter("b64encode", |v: Value| {
        base64::engine::general_purpose::STANDARD.encode(text_of(&v).as_bytes())
    });
    env.add_filter("b64decode", |s: String| -> Result<String, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| invalid(format!("b64decode: {e}")))?;
        String::from_utf8(bytes).map_err(|_| invalid("b64decode: the decoded bytes are not UTF-8"))
    });
    env.add_filter("quote", |v: Value| {
        let text = text_of(&v);
        let mut out = String::with_capacity(text.len() + 2);
        out.push('"');
        for c in text.chars() {
            if matches!(c, '\\' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    });
    env.add_filter("squote", |v: Value| {
        format!("'{}'", display(&v).replace('\'', "''"))
    });
    env.add_filter("indent", |s: Value, width: usize| {
        indent_lines(&text_of(&s), width)
    });
    env.add_filter("nindent", |s: Value, width: usize| {
        let mut out = String::from("\n");
        indent_into(&mut out, &text_of(&s), width);
        out
    });
    env.add_filter(
        "required",
        |v: Value, message: Option<String>| -> Result<Value, Error> {
            let empty = v.is_undefined() || v.is_none() || v.as_str().is_some_and(str::is_empty);
            if empty {
                Err(invalid(message.unwrap_or_else(|| {
                    "a required value is missing or empty".into()
                })))
            } else {
                Ok(v)
            }
        },
    );
    env.add_filter("empty", |v: Value| -> bool {
        v.is_undefined()
            || v.is_none()
            || v.len() == Some(0)
            || v.as_str().is_some_and(str::is_empty)
    });
    env.add_filter("haskey", |v: Value, key: String| -> bool {
        v.kind() == ValueKind::Map && v.get_attr(&key).is_ok_and(|x| !x.is_undefined())
    });
    env.add_filter("keys", |v: Value| -> Result<Value, Error> {
        Ok(Value::from(
            map_entries(&v, "keys")?
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
        ))
    });
    env.add_filter("values", |v: Value| -> Result<Value, Error> {
        Ok(Value::from(
            map_entries(&v, "values")?
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>(),
        ))
    });
    env.add_filter(
        "merge",
        |base: Value, overlay: Value| -> Result<Value, Error> {
            let mut b = to_json(&base)?;
            deep_merge(&mut b, &to_json(&overlay)?);
            Ok(from_json(&b))
        },
    );
    env.add_filter(
        "pick",
        |v: Value, keys: Rest<String>| -> Result<Value, Error> {
            let entries = map_entries(&v, "pick")?;
            Ok(Value::from_pairs(entries.into_iter().filter(|(k, _)| {
                keys.iter().any(|x| Some(x.as_str()) == k.as_str())
            })))
        },
    );
    env.add_filter(
        "omit",
        |v: Value, keys: Rest<String>| -> Result<Value, Error> {
            let entries = map_entries(&v, "omit")?;
            Ok(Value::from_pairs(entries.into_iter().filter(|(k, _)| {
                !keys.iter().any(|x| Some(x.as_str()) == k.as_str())
            })))
        },
    );
    env.add_filter("sha256", |v: Value| {
        hex(&sha2::Sha256::digest(text_of(&v).as_bytes()))
    });
    env.add_filter("sha512", |v: Value| {
        hex(&sha2::Sha512::digest(text_of(&v).as_bytes()))
    });
    env.add_filter("sha1", |v: Value| {
        hex(&sha1::Sha1::digest(text_of(&v).as_bytes()))
    });
    env.add_filter("md5", |v: Value| {
        hex(&md5::Md5::digest(text_of(&v).as_bytes()))
    });
    env.add_filter("trunc", |s: Value, n: i64| -> String {
        let s = display(&s);
        let len = s.chars().count() as i64;
        if n >= 0 {
            s.chars().take(n as usize).collect()
        } else {
            // Helm: a negative length keeps the end.
            s.chars().skip((len + n).max(0) as usize).collect()
        }
    });
    env.add_filter("trimprefix", |s: String, p: String| {
        s.strip_prefix(p.as_str()).map(str::to_string).unwrap_or(s)
    });
    env.add_filter("trimsuffix", |s: String, p: String| {
        s.strip_suffix(p.as_str()).map(str::to_string).unwrap_or(s)
    });
    env.add_filter("hasprefix", |s: String, p: String| s.starts_with(&p));
    env.add_filter("hassuffix", |s: String, p: String| s.ends_with(&p));
    env.add_filter("snakecase", |s: String| {
        split_words(&s)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("_")
    });
    env.add_filter("kebabcase", |s: String| {
        split_words(&s)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("-")
    });
    env.add_filter("camelcase", |s: String| {
        split_words(&s)
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if i == 0 {
                    w.to_lowercase()
                } else {
                    capitalized(w)
                }
            })
            .collect::<String>()
    });
    env.add_filter("pascalcase", |s: String| {
        split_words(&s)
            .iter()
            .map(|w| capitalized(w))
            .collect::<String>()
    });
    env.add_filter(
        "tostrings",
        |v: Value, kwargs: Kwargs| -> Result<Vec<String>, Error> {
            let prefix: Option<String> = kwargs.get("prefix")?;
            let suffix: Option<String> = kwargs.get("suffix")?;
            let skip_empty: Option<bool> = kwargs.get("skip_empty")?;
            kwargs.assert_all_used()?;
            let items: Vec<Value> = if v.kind() == ValueKind::Seq {
                v.try_iter()?.collect()
            } else {
                vec![v]
            };
            Ok(items
                .iter()
                .map(display)
                .filter(|s| !(skip_empty.unwrap_or(false) && s.is_empty()))
                .map(|s| {
                    format!(
                        "{}{s}{}",
                        prefix.as_deref().unwrap_or(""),
                        suffix.as_deref().unwrap_or("")
                    )
                })
                .collect())
        },
    );
    env.add_filter("semver_match", |v: Value, c: String| {
        semver_matches(&display(&v), &c)
    });
    env.add_filter("int", |v: Value| to_int(&v));
    env.add_filter("float", |v: Value| to_float(&v));
    env.add_filter("abs", |v: Value| -> Result<Value, Error> {
        if let Some(i) = v.as_i64() {
            Ok(Value::from(i.abs()))
        } else {
            Ok(Value::from(number_f64(&v)?.abs()))
        }
    });
    env.add_filter("floor", |v: Value| -> Result<i64, Error> {
        Ok(number_f64(&v)?.floor() as i64)
    });
    env.add_filter("ceil", |v: Value| -> Result<i64, Error> {
        Ok(number_f64(&v)?.ceil() as i64)
    });
    env.add_filter("basename", |s: String| {
        s.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    });
    env.add_filter("dirname", |s: String| {
        match s.trim_end_matches('/').rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => s[..i].to_string(),
            None => ".".to_string(),
        }
    });
    env.add_filter("extname", |s: String| {
        let base = s.rsplit('/').next().unwrap_or_default();
        match base.rfind('.') {
            Some(i) if i > 0 => base[i + 1..].to_string(),
            _ => String::new(),
        }
    });
    env.add_filter("cleanpath", |s: String| {
        let absolute = s.starts_with('/');
        let mut parts: Vec<&str> = Vec::new();
        for p in s.split('/') {
            match p {
                "" | "." => {}
                ".." => {
                    if parts.last().is_some_and(|l| *l != "..") {
                        parts.pop();
                    } else if !absolute {
                        parts.push("..");
                    }
                }
                p => parts.push(p),
            }
        }
        let joined = parts.join("/");
        if absolute {
            format!("/{joined}")
        } else if joined.is_empty() {
            ".".into()
        } else {
            joined
        }
    });
    env.add_filter(
        "regex_match",
        |s: String, p: String| -> Result<bool, Error> { Ok(regex(&p)?.is_match(&s)) },
    );
    env.add_filter(
        "regex_replace",
        |s: String, p: String, r: String| -> Result<String, Error> {
            Ok(regex(&p)?.replace_all(&s, r.as_str()).into_owned())
        },
    );
    env.add_filter(
        "regex_find",
        |s: String, p: String| -> Result<String, Error> {
            Ok(regex(&p)?
                .find(&s)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default())
        },
    );
    env.add_filter(
        "regex_find_all",
        |s: String, p: String| -> Result<Vec<String>, Error> {
            Ok(regex(&p)?
                .find_iter(&s)
                .map(|m| m.as_str().to_string())
                .collect())
        },
    );
    env.add_filter("append", |l: Value, item: Value| -> Result<Value, Error> {
        let mut items = seq_items(&l, "append")?;
        items.push(item);
        Ok(Value::from(items))
    });
    env.add_filter("prepend", |l: Value, item: Value| -> Result<Value, Error> {
        let mut items = seq_items(&l, "prepend")?;
        items.insert(0, item);
        Ok(Value::from(items))
    });
    env.add_filter(
        "concat",
        |a: Value, others: Rest<Value>| -> Result<Value, Error> {
            let mut items = seq_items(&a, "concat")?;
            for o in others.iter() {
                items.extend(seq_items(o, "concat")?);
            }
            Ok(Value::from(items))
        },
    );
    env.add_filter(
        "without",
        |l: Value, exclude: Rest<Value>| -> Result<Value, Error> {
            Ok(Value::from(
                seq_items(&l, "without")?
                    .into_iter()
                    .filter(|i| !exclude.contains(i))
                    .collect::<Vec<_>>(),
            ))
        },
    );
    env.add_filter("compact", |l: Value| -> Result<Value, Error> {
        Ok(Value::from(
            seq_items(&l, "compact")?
                .into_iter()
                .filter(|i| {
                    !(i.is_undefined()
                        || i.is_none()
                        || i.len() == Some(0)
                        || i.as_str().is_some_and(str::is_empty))
                })
                .collect::<Vec<_>>(),
        ))
    });
    env.add_filter("repeat", |s: String, n: usize| s.repeat(n));
    env.add_filter(
        "substr",
        |s: String, start: i64, end: Option<i64>| -> String {
            let chars: Vec<char> = s.chars().collect();
            let len = chars.len() as i64;
            let start = start.clamp(0, len) as usize;
            let end = end
                .map(|e| if e < 0 { len } else { e.min(len) })
                .unwrap_or(len)
                .max(start as i64) as usize;
            chars[start..end].iter().collect()
        },
    );
    env.add_filter("wrap", |s: String, width: usize| -> String {
        let mut out = String::new();
        for (i, para) in s.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let mut line_len = 0;
            for (j, word) in para.split(' ').enumerate() {
                if j > 0 {
                    if line_len + 1 + word.chars().count() > width && line_len > 0 {
                        out.push('\n');
                        line_len = 0;
                    } else {
                        out.push(' ');
                        line_len += 1;
                    }
                }
                out.push_str(word);
                line_len += word.chars().count();
            }
        }
        out
    });
}
