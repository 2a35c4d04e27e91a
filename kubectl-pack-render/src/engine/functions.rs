//! The global template functions of the Sherpack format.

use std::sync::Arc;

use minijinja::value::{Rest, ValueKind};
use minijinja::{Environment, Error, State, Value, context};

use super::filters::{
    display, from_json, invalid, parse_json, parse_yaml, to_float, to_int, to_json,
};

/// Reads a live object for `lookup(apiVersion, kind, namespace, name)`;
/// `name` empty lists (returns `{"items": [...]}`).
pub type LookupFn =
    Arc<dyn Fn(&str, &str, &str, &str) -> Result<serde_json::Value, String> + Send + Sync>;

const MAX_TPL_DEPTH: usize = 10;

thread_local! {
    static TPL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn render_nested(state: &State<'_, '_>, template: &str, ctx: Value) -> Result<String, Error> {
    if !template.contains("{{") && !template.contains("{%") {
        return Ok(template.to_string());
    }
    let depth = TPL_DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let result = if depth > MAX_TPL_DEPTH {
        Err(invalid(format!(
            "tpl nested deeper than {MAX_TPL_DEPTH} levels (a value that renders itself?)"
        )))
    } else {
        state.env().render_str(template, ctx)
    };
    TPL_DEPTH.with(|d| d.set(d.get() - 1));
    result
}

fn printf(format: &str, args: &[Value]) -> Result<String, Error> {
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // Flags/width/precision like %5.2f are accepted and honoured for f.
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '.' || d == '-' || d == '+' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push('%');
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = args
            .get(next)
            .ok_or_else(|| invalid(format!("printf: not enough arguments for {format:?}")))?;
        next += 1;
        match verb {
            's' | 'v' => out.push_str(&display(arg)),
            'd' => out.push_str(&to_int(arg)?.to_string()),
            'f' => {
                let precision = spec
                    .split('.')
                    .nth(1)
                    .and_then(|p| p.parse::<usize>().ok())
                    .unwrap_or(6);
                out.push_str(&format!("{:.*}", precision, to_float(arg)?));
            }
            'q' => out.push_str(&serde_json::to_string(&display(arg)).unwrap_or_default()),
            't' => out.push_str(if arg.is_true() { "true" } else { "false" }),
            'x' => out.push_str(&format!("{:x}", to_int(arg)?)),
            other => return Err(invalid(format!("printf: unknown verb %{other}"))),
        }
    }
    Ok(out)
}

/// Registers every function on `env`; `lookup` is `None` when rendering
/// offline (then `lookup()` returns an empty dict, as `helm template` does).
pub fn register(env: &mut Environment<'static>, lookup: Option<LookupFn>) {
    env.add_function("fail", |msg: String| -> Result<Value, Error> {
        Err(invalid(msg))
    });
    env.add_function("dict", |args: Rest<Value>| -> Result<Value, Error> {
        if !args.len().is_multiple_of(2) {
            return Err(invalid(
                "dict needs key, value pairs (an even number of arguments)",
            ));
        }
        let mut pairs = Vec::new();
        for pair in args.chunks(2) {
            let key = pair[0]
                .as_str()
                .ok_or_else(|| invalid("dict keys must be strings"))?;
            pairs.push((key.to_string(), pair[1].clone()));
        }
        Ok(Value::from_pairs(pairs))
    });
    env.add_function("list", |args: Rest<Value>| Value::from(args.to_vec()));
    env.add_function(
        "get",
        |obj: Value, key: String, default: Option<Value>| -> Value {
            match obj.get_attr(&key) {
                Ok(v) if !v.is_undefined() => v,
                _ => default.unwrap_or(Value::UNDEFINED),
            }
        },
    );
    env.add_function(
        "set",
        |obj: Value, key: String, val: Value| -> Result<Value, Error> {
            let mut m = to_json(&obj)?;
            let map = m
                .as_object_mut()
                .ok_or_else(|| invalid("set needs a dict"))?;
            map.insert(key, to_json(&val)?);
            Ok(from_json(&m))
        },
    );
    env.add_function("unset", |obj: Value, key: String| -> Result<Value, Error> {
        let mut m = to_json(&obj)?;
        m.as_object_mut()
            .ok_or_else(|| invalid("unset needs a dict"))?
            .remove(&key);
        Ok(from_json(&m))
    });
    env.add_function(
        "dig",
        |obj: Value, args: Rest<Value>| -> Result<Value, Error> {
            let Some((default, keys)) = args.split_last() else {
                return Err(invalid(
                    "dig needs keys and a default: dig(dict, \"a\", \"b\", default)",
                ));
            };
            let mut cur = obj;
            for key in keys {
                let next = match key.kind() {
                    ValueKind::Number => cur.get_item(key).ok(),
                    _ => key.as_str().and_then(|k| cur.get_attr(k).ok()),
                };
                match next {
                    Some(v) if !v.is_undefined() && !v.is_none() => cur = v,
                    _ => return Ok(default.clone()),
                }
            }
            Ok(cur)
        },
    );
    env.add_function("coalesce", |args: Rest<Value>| -> Value {
        args.iter()
            .find(|a| !(a.is_undefined() || a.is_none() || a.as_str().is_some_and(str::is_empty)))
            .cloned()
            .unwrap_or(Value::UNDEFINED)
    });
    env.add_function(
        "ternary",
        |t: Value, f: Value, cond: Value| if cond.is_true() { t } else { f },
    );
    env.add_function("uuidv4", || uuid::Uuid::new_v4().to_string());
    env.add_function("tostring", |v: Value| display(&v));
    env.add_function("toint", |v: Value| to_int(&v));
    env.add_function("tofloat", |v: Value| to_float(&v));
    env.add_function("now", || {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        time::OffsetDateTime::now_utc()
            .format(&format)
            .unwrap_or_default()
    });
    env.add_function("printf", |format: String, args: Rest<Value>| {
        printf(&format, &args)
    });
    env.add_function("fromjson", |s: String| parse_json(&s));
    env.add_function("fromyaml", |s: String| parse_yaml(&s));
    env.add_function(
        "tpl",
        |state: &State<'_, '_>, template: String, ctx: Value| render_nested(state, &template, ctx),
    );
    env.add_function("tpl_ctx", |state: &State<'_, '_>, template: String| {
        let ctx = context! {
            values => state.lookup("values"),
            release => state.lookup("release"),
            pack => state.lookup("pack"),
            capabilities => state.lookup("capabilities"),
            files => state.lookup("files"),
        };
        render_nested(state, &template, ctx)
    });
    env.add_function(
        "lookup",
        move |api_version: String,
              kind: String,
              namespace: String,
              name: String|
              -> Result<Value, Error> {
            match &lookup {
                None => Ok(Value::from_pairs(Vec::<(String, Value)>::new())),
                Some(f) => f(&api_version, &kind, &namespace, &name)
                    .map(|v| from_json(&v))
                    .map_err(invalid),
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_handles_go_verbs() {
        let args = [
            Value::from("web"),
            Value::from(3),
            Value::from(1.5),
            Value::from(true),
        ];
        assert_eq!(
            printf("%s-%d %.2f %t %%", &args).unwrap(),
            "web-3 1.50 true %"
        );
        assert!(printf("%s %s", &args[..1]).is_err());
    }
}
