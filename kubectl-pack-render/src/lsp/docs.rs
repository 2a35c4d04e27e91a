//! One line of documentation per filter and function a template can call:
//! the pack's own (engine/filters.rs, engine/functions.rs) and minijinja's
//! built-ins. The language server completes and hovers from this table; a
//! test renders every entry to prove each one exists.

/// A filter or function: name, signature, what it does.
pub struct Doc {
    /// As called.
    pub name: &'static str,
    /// `value | name(args)` or `name(args)`.
    pub signature: &'static str,
    /// One sentence.
    pub doc: &'static str,
}

const fn d(name: &'static str, signature: &'static str, doc: &'static str) -> Doc {
    Doc {
        name,
        signature,
        doc,
    }
}

/// Filters (`value | name`).
pub const FILTERS: &[Doc] = &[
    d(
        "toyaml",
        "value | toyaml",
        "The value as YAML (no trailing newline); pair with nindent.",
    ),
    d("tojson", "value | tojson", "The value as compact JSON."),
    d(
        "tojson_pretty",
        "value | tojson_pretty",
        "The value as indented JSON.",
    ),
    d("fromjson", "text | fromjson", "Parses a JSON string."),
    d("fromyaml", "text | fromyaml", "Parses a YAML string."),
    d(
        "b64encode",
        "value | b64encode",
        "Base64 of the value's text (Secret data).",
    ),
    d(
        "b64decode",
        "text | b64decode",
        "Decodes base64 to UTF-8 text.",
    ),
    d(
        "quote",
        "value | quote",
        "The value in double quotes, escaped.",
    ),
    d(
        "squote",
        "value | squote",
        "The value in single quotes ('' for ').",
    ),
    d(
        "indent",
        "text | indent(width)",
        "Indents every line by width spaces.",
    ),
    d(
        "nindent",
        "text | nindent(width)",
        "A newline, then the text indented by width spaces.",
    ),
    d(
        "required",
        "value | required(message?)",
        "Fails the render with message when the value is missing or empty.",
    ),
    d(
        "empty",
        "value | empty",
        "True for undefined, none, \"\" and empty lists or maps.",
    ),
    d(
        "haskey",
        "map | haskey(key)",
        "True when the map has the key.",
    ),
    d("keys", "map | keys", "The map's keys, in order."),
    d("values", "map | values", "The map's values, in key order."),
    d("compact", "list | compact", "The list without empty items."),
    d(
        "append",
        "list | append(item)",
        "The list with item added at the end.",
    ),
    d(
        "prepend",
        "list | prepend(item)",
        "The list with item added at the front.",
    ),
    d(
        "trunc",
        "text | trunc(n)",
        "The first n characters (negative: the last n).",
    ),
    d(
        "trimprefix",
        "text | trimprefix(prefix)",
        "The text without a leading prefix.",
    ),
    d(
        "trimsuffix",
        "text | trimsuffix(suffix)",
        "The text without a trailing suffix.",
    ),
    d(
        "hasprefix",
        "text | hasprefix(prefix)",
        "True when the text starts with prefix.",
    ),
    d(
        "hassuffix",
        "text | hassuffix(suffix)",
        "True when the text ends with suffix.",
    ),
    d("repeat", "text | repeat(n)", "The text n times."),
    d(
        "wrap",
        "text | wrap(width)",
        "Wraps the text at width columns.",
    ),
    d("camelcase", "text | camelcase", "camelCase of the text."),
    d("pascalcase", "text | pascalcase", "PascalCase of the text."),
    d("snakecase", "text | snakecase", "snake_case of the text."),
    d(
        "kebabcase",
        "text | kebabcase",
        "kebab-case of the text (Kubernetes names).",
    ),
    d("sha1", "value | sha1", "Hex SHA-1 of the value's text."),
    d(
        "sha256",
        "value | sha256",
        "Hex SHA-256 of the value's text (checksum annotations).",
    ),
    d(
        "sha512",
        "value | sha512",
        "Hex SHA-512 of the value's text.",
    ),
    d("md5", "value | md5", "Hex MD5 of the value's text."),
    d("basename", "path | basename", "The last element of a path."),
    d(
        "dirname",
        "path | dirname",
        "The path without its last element.",
    ),
    d(
        "extname",
        "path | extname",
        "The path's extension, with its dot.",
    ),
    d(
        "cleanpath",
        "path | cleanpath",
        "The path with . and .. resolved.",
    ),
    d(
        "semver_match",
        "version | semver_match(range)",
        "True when the version is in the semver range (e.g. '>=1.25').",
    ),
    d("int", "value | int", "The value as an integer."),
    d("float", "value | float", "The value as a float."),
    d("abs", "number | abs", "The absolute value."),
    d("floor", "number | floor", "Rounded down."),
    d("ceil", "number | ceil", "Rounded up."),
    // minijinja built-ins
    d(
        "default",
        "value | default(other, boolean=false)",
        "other when the value is undefined (or falsy with boolean=true).",
    ),
    d(
        "join",
        "list | join(sep)",
        "The items as text joined by sep.",
    ),
    d("length", "value | length", "Number of items or characters."),
    d("lower", "text | lower", "Lower case."),
    d("upper", "text | upper", "Upper case."),
    d("title", "text | title", "Title Case."),
    d(
        "capitalize",
        "text | capitalize",
        "First letter upper case, the rest lower.",
    ),
    d(
        "trim",
        "text | trim(chars?)",
        "Without leading and trailing whitespace (or chars).",
    ),
    d(
        "replace",
        "text | replace(old, new)",
        "Every old replaced by new.",
    ),
    d("first", "list | first", "The first item."),
    d("last", "list | last", "The last item."),
    d("reverse", "list | reverse", "The items in reverse order."),
    d(
        "sort",
        "list | sort(attribute?, reverse=false)",
        "The items sorted.",
    ),
    d("unique", "list | unique", "The items without duplicates."),
    d(
        "dictsort",
        "map | dictsort",
        "The map's (key, value) pairs sorted by key.",
    ),
    d("items", "map | items", "The map's (key, value) pairs."),
    d("list", "value | list", "The value as a list."),
    d(
        "map",
        "list | map(attribute=name) or map(filter)",
        "Each item's attribute, or each item through a filter.",
    ),
    d(
        "select",
        "list | select(test?)",
        "The items passing the test.",
    ),
    d(
        "reject",
        "list | reject(test?)",
        "The items failing the test.",
    ),
    d(
        "selectattr",
        "list | selectattr(attr, test?)",
        "The items whose attribute passes the test.",
    ),
    d(
        "rejectattr",
        "list | rejectattr(attr, test?)",
        "The items whose attribute fails the test.",
    ),
    d("string", "value | string", "The value as text."),
    d("bool", "value | bool", "The value as a boolean."),
    d("round", "number | round(precision=0)", "Rounded."),
    d("min", "list | min", "The smallest item."),
    d("max", "list | max", "The largest item."),
    d("sum", "list | sum", "The sum of the items."),
    d("batch", "list | batch(n)", "The items in groups of n."),
    d("slice", "list | slice(n)", "The items in n groups."),
    d("attr", "value | attr(name)", "The named attribute."),
    d(
        "safe",
        "text | safe",
        "Marks the text as safe (no escaping).",
    ),
];

/// Functions (`name(args)`).
pub const FUNCTIONS: &[Doc] = &[
    d("fail", "fail(message)", "Stops the render with message."),
    d(
        "dict",
        "dict(key, value, ...)",
        "A map from key, value pairs.",
    ),
    d("list", "list(item, ...)", "A list of the arguments."),
    d(
        "get",
        "get(map, key, default?)",
        "map[key], or default when it is missing.",
    ),
    d("set", "set(map, key, value)", "A copy of map with key set."),
    d("unset", "unset(map, key)", "A copy of map without key."),
    d(
        "coalesce",
        "coalesce(value, ...)",
        "The first argument that is not empty.",
    ),
    d(
        "printf",
        "printf(format, args...)",
        "Go-style formatting (%s, %d, %v, %q).",
    ),
    d("tostring", "tostring(value)", "The value as text."),
    d("toint", "toint(value)", "The value as an integer."),
    d("tofloat", "tofloat(value)", "The value as a float."),
    d("fromjson", "fromjson(text)", "Parses a JSON string."),
    d("fromyaml", "fromyaml(text)", "Parses a YAML string."),
    d(
        "now",
        "now()",
        "The current time (RFC 3339); makes renders differ, use sparingly.",
    ),
    d(
        "uuidv4",
        "uuidv4()",
        "A random UUID; makes renders differ, use sparingly.",
    ),
    d(
        "lookup",
        "lookup(apiVersion, kind, namespace, name)",
        "A live object with --cluster-lookup, else an empty map.",
    ),
    d(
        "tpl_ctx",
        "tpl_ctx(template_text)",
        "Renders a string as a template with the current values.",
    ),
    d("range", "range(start?, stop, step?)", "A list of integers."),
    d(
        "namespace",
        "namespace()",
        "A mutable object for values set inside loops.",
    ),
];

/// The context's top-level names.
pub const GLOBALS: &[Doc] = &[
    d(
        "values",
        "values",
        "The merged values: schema defaults, values.yaml, environment, -f, --set.",
    ),
    d(
        "release",
        "release",
        "The release: name, namespace, revision, isInstall, isUpgrade, service.",
    ),
    d(
        "pack",
        "pack",
        "The pack's Pack.yaml metadata: name, version, appVersion, description.",
    ),
    d(
        "capabilities",
        "capabilities",
        "kubeVersion (version, major, minor) and apiVersions of the target cluster.",
    ),
    d(
        "files",
        "files",
        "The pack's files: files.get(path), files.glob(pattern), files.lines(path).",
    ),
];

/// The documentation of a filter or function called `name`.
pub fn find(name: &str, filter: bool) -> Option<&'static Doc> {
    let table = if filter { FILTERS } else { FUNCTIONS };
    table.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_filter_and_function_exists_in_the_engine() {
        let mut env = minijinja::Environment::new();
        crate::engine::filters::register(&mut env);
        crate::engine::functions::register(&mut env, None);
        for f in FILTERS {
            let src = format!("{{{{ x | {} }}}}", f.name);
            let err = env.render_str(&src, minijinja::context! {x => 1}).err();
            assert!(
                !err.is_some_and(|e| e.kind() == minijinja::ErrorKind::UnknownFilter),
                "filter {} is documented but not registered",
                f.name
            );
        }
        for f in FUNCTIONS {
            let src = format!("{{{{ {}() }}}}", f.name);
            let err = env.render_str(&src, minijinja::context! {}).err();
            assert!(
                !err.is_some_and(|e| e.kind() == minijinja::ErrorKind::UnknownFunction),
                "function {} is documented but not registered",
                f.name
            );
        }
    }
}
