//! Helm's `--set` syntax, reimplemented: `a.b=c`, `a[0]=x`, `a\.b=c`,
//! `\,` inside values, `{x,y}` lists, and Helm's type inference (`true`,
//! `false`, `null`, integers not starting with 0); `--set-string` never
//! infers, `--set-json` takes JSON values, `--set-file` reads files.
//!
//! The grammar and the test cases follow Helm's `pkg/strvals`.

use serde_json::{Map, Value};

/// Largest list index accepted (Helm's `MaxIndex`).
pub const MAX_INDEX: usize = 65536;

/// How values after `=` are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--set`: infer booleans, null and integers.
    Typed,
    /// `--set-string`: every value is a string.
    String,
    /// `--set-json`: every value is JSON.
    Json,
}

/// A parse error, with the expression it was found in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SetError {
    /// What is wrong.
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, SetError> {
    Err(SetError {
        message: message.into(),
    })
}

/// Parses `expr` into a fresh map.
#[cfg(test)]
pub fn parse(expr: &str, mode: Mode) -> Result<Map<String, Value>, SetError> {
    let mut data = Map::new();
    parse_into(expr, mode, &mut data)?;
    Ok(data)
}

/// Parses `expr` and sets its values into `data`.
pub fn parse_into(expr: &str, mode: Mode, data: &mut Map<String, Value>) -> Result<(), SetError> {
    let chars: Vec<char> = expr.chars().collect();
    let mut p = Parser {
        s: &chars,
        pos: 0,
        mode,
    };
    while !p.at_end() {
        p.key(data)?;
    }
    Ok(())
}

/// Parses `key=path` pairs of `--set-file`, returning (key expression, path).
pub fn split_file_arg(arg: &str) -> Result<(String, String), SetError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => err(format!("--set-file {arg:?}: expected key=path")),
    }
}

struct Parser<'a> {
    s: &'a [char],
    pos: usize,
    mode: Mode,
}

enum Stop {
    Char(char),
    End,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Reads until one of `stops` (consumed) or the end; `\` escapes.
    fn until(&mut self, stops: &[char]) -> Result<(String, Stop), SetError> {
        let mut out = String::new();
        while let Some(&c) = self.s.get(self.pos) {
            self.pos += 1;
            if c == '\\' {
                match self.s.get(self.pos) {
                    Some(&next) => {
                        out.push(next);
                        self.pos += 1;
                    }
                    None => return err("unexpected end of input after \\"),
                }
                continue;
            }
            if stops.contains(&c) {
                return Ok((out, Stop::Char(c)));
            }
            out.push(c);
        }
        Ok((out, Stop::End))
    }

    fn key(&mut self, data: &mut Map<String, Value>) -> Result<(), SetError> {
        let (key, stop) = self.until(&['=', '[', ',', '.'])?;
        match stop {
            Stop::End => {
                if key.is_empty() {
                    Ok(())
                } else {
                    err(format!("key {key:?} has no value"))
                }
            }
            Stop::Char(',') => err(format!("key {key:?} has no value (cannot end with ,)")),
            Stop::Char(_) if key.is_empty() => {
                err("a key is empty (check for stray '.', '=', '[' or ',')")
            }
            Stop::Char('=') => {
                let v = self.value()?;
                data.insert(key, v);
                Ok(())
            }
            Stop::Char('.') => {
                let mut inner = match data.remove(&key) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                let result = self.key(&mut inner);
                if result.is_ok() && inner.is_empty() {
                    return err(format!("key map {key:?} has no value"));
                }
                data.insert(key, Value::Object(inner));
                result
            }
            Stop::Char(_) => {
                // '[': a list index.
                let index = self.index()?;
                let mut list = match data.remove(&key) {
                    Some(Value::Array(l)) => l,
                    _ => Vec::new(),
                };
                let result = self.list_item(&mut list, index);
                data.insert(key, Value::Array(list));
                result
            }
        }
    }

    fn index(&mut self) -> Result<usize, SetError> {
        let (text, stop) = self.until(&[']'])?;
        if matches!(stop, Stop::End) {
            return err(format!("list index [{text} is not closed"));
        }
        let n: i64 = text.trim().parse().map_err(|_| SetError {
            message: format!("list index {text:?} is not a number"),
        })?;
        if n < 0 {
            return err(format!("negative list index {n}"));
        }
        let n = n as usize;
        if n > MAX_INDEX {
            return err(format!(
                "list index {n} is larger than the maximum {MAX_INDEX}"
            ));
        }
        Ok(n)
    }

    fn list_item(&mut self, list: &mut Vec<Value>, index: usize) -> Result<(), SetError> {
        let next = self.s.get(self.pos).copied();
        match next {
            None => Ok(()),
            Some(',') => {
                self.pos += 1;
                Ok(())
            }
            Some('=') => {
                self.pos += 1;
                let v = self.value()?;
                set_index(list, index, v);
                Ok(())
            }
            Some('.') => {
                self.pos += 1;
                let mut inner = match list.get_mut(index).map(Value::take) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                let result = self.key(&mut inner);
                set_index(list, index, Value::Object(inner));
                result
            }
            Some('[') => {
                self.pos += 1;
                let inner_index = self.index()?;
                let mut inner = match list.get_mut(index).map(Value::take) {
                    Some(Value::Array(l)) => l,
                    _ => Vec::new(),
                };
                let result = self.list_item(&mut inner, inner_index);
                set_index(list, index, Value::Array(inner));
                result
            }
            Some(c) => err(format!("unexpected {c:?} after a list index")),
        }
    }

    fn value(&mut self) -> Result<Value, SetError> {
        if self.mode == Mode::Json {
            return self.json_value();
        }
        if self.s.get(self.pos) == Some(&'{') {
            self.pos += 1;
            let mut items = Vec::new();
            loop {
                let (item, stop) = self.until(&[',', '}'])?;
                match stop {
                    Stop::End => return err("list value {... is not closed with }"),
                    Stop::Char(',') => items.push(self.typed(&item)),
                    Stop::Char(_) => {
                        items.push(self.typed(&item));
                        break;
                    }
                }
            }
            match self.s.get(self.pos) {
                None => {}
                Some(',') => self.pos += 1,
                Some(c) => return err(format!("unexpected {c:?} after a {{list}} value")),
            }
            return Ok(Value::Array(items));
        }
        let (text, _) = self.until(&[','])?;
        Ok(self.typed(&text))
    }

    fn json_value(&mut self) -> Result<Value, SetError> {
        let rest: String = self.s[self.pos..].iter().collect();
        if rest.is_empty() || rest.starts_with(',') {
            self.pos += usize::from(rest.starts_with(','));
            return Ok(Value::Null);
        }
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return err(format!("invalid JSON value: {e}")),
            None => Value::Null,
        };
        let used_bytes = stream.byte_offset();
        self.pos += rest[..used_bytes].chars().count();
        match self.s.get(self.pos) {
            None => {}
            Some(',') => self.pos += 1,
            Some(c) => return err(format!("unexpected {c:?} after a JSON value")),
        }
        Ok(value)
    }

    fn typed(&self, text: &str) -> Value {
        if self.mode == Mode::String {
            return Value::String(text.to_string());
        }
        typed_value(text)
    }
}

/// Helm's type inference for `--set` values.
pub fn typed_value(text: &str) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if text.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if text == "0" {
        return Value::from(0);
    }
    if !text.is_empty()
        && !text.starts_with('0')
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::from(n);
    }
    Value::String(text.to_string())
}

fn set_index(list: &mut Vec<Value>, index: usize, value: Value) {
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(expr: &str, expected: Value) {
        let got = parse(expr, Mode::Typed).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(Value::Object(got), expected, "{expr}");
    }

    fn bad(expr: &str) {
        assert!(parse(expr, Mode::Typed).is_err(), "{expr} should fail");
    }

    /// Helm's `TestParseSet` cases.
    #[test]
    fn helm_parse_set_cases() {
        ok(
            "name1=null,f=false,t=true",
            json!({"name1": null, "f": false, "t": true}),
        );
        ok("name1=value1", json!({"name1": "value1"}));
        ok(
            "name1=value1,name2=value2",
            json!({"name1": "value1", "name2": "value2"}),
        );
        ok(
            "name1=value1,name2=value2,",
            json!({"name1": "value1", "name2": "value2"}),
        );
        bad("name1=value1,,,,name2=value2,");
        ok(
            "name1=,name2=value2",
            json!({"name1": "", "name2": "value2"}),
        );
        ok("leading_zeros=00009", json!({"leading_zeros": "00009"}));
        ok("zero_int=0", json!({"zero_int": 0}));
        ok("long_int=1234567890", json!({"long_int": 1234567890}));
        ok("boolean=true", json!({"boolean": true}));
        ok("is_null=null", json!({"is_null": null}));
        bad("name1,name2=");
        bad("name1,name2=value2");
        bad("name1,name2=value2\\");
        bad("name1,name2");
        ok(
            "name1=one\\,two,name2=three\\,four",
            json!({"name1": "one,two", "name2": "three,four"}),
        );
        ok(
            "name1=one\\=two,name2=three\\=four",
            json!({"name1": "one=two", "name2": "three=four"}),
        );
        ok(
            "name1=one two three,name2=three two one",
            json!({"name1": "one two three", "name2": "three two one"}),
        );
        ok("outer.inner=value", json!({"outer": {"inner": "value"}}));
        ok(
            "outer.middle.inner=value",
            json!({"outer": {"middle": {"inner": "value"}}}),
        );
        ok(
            "outer.inner1=value,outer.inner2=value2",
            json!({"outer": {"inner1": "value", "inner2": "value2"}}),
        );
        ok(
            "outer.inner1=value,outer.middle.inner=value",
            json!({"outer": {"inner1": "value", "middle": {"inner": "value"}}}),
        );
        bad("name1.name2");
        bad("name1.name2,name1.name3");
        ok("name1.name2=", json!({"name1": {"name2": ""}}));
        bad("name1.=name2");
        bad("name1.,name2");
        ok(
            "name1={value1,value2}",
            json!({"name1": ["value1", "value2"]}),
        );
        ok(
            "name1={value1,value2},name2={value1,value2}",
            json!({"name1": ["value1", "value2"], "name2": ["value1", "value2"]}),
        );
        ok("name1={1021,902}", json!({"name1": [1021, 902]}));
        ok(
            "name1.name2={value1,value2}",
            json!({"name1": {"name2": ["value1", "value2"]}}),
        );
        bad("name1={1021,902");
        ok("list[0]=foo", json!({"list": ["foo"]}));
        ok("list[0].foo=bar", json!({"list": [{"foo": "bar"}]}));
        ok(
            "list[0].foo=bar,list[0].hello=world",
            json!({"list": [{"foo": "bar", "hello": "world"}]}),
        );
        bad("list[0].foo=bar,list[-30].hello=world");
        ok("list[0]=foo,list[1]=bar", json!({"list": ["foo", "bar"]}));
        ok("list[0]=foo,list[1]=bar,", json!({"list": ["foo", "bar"]}));
        ok(
            "list[0]=foo,list[3]=bar",
            json!({"list": ["foo", null, null, "bar"]}),
        );
        bad("list[0]=foo,list[-20]=bar");
        bad("illegal[0]name.foo=bar");
        ok("noval[0]", json!({"noval": []}));
        ok("noval[0]=", json!({"noval": [""]}));
        ok("nested[0][0]=1", json!({"nested": [[1]]}));
        ok("nested[1][1]=1", json!({"nested": [null, [null, 1]]}));
        ok(
            "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
            json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
        );
        ok(
            "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
            json!({"name1": {"name2": [{"foo": "bar"}, {"foo": "bar"}]}}),
        );
        ok(
            "name1.name2[1].foo=bar",
            json!({"name1": {"name2": [null, {"foo": "bar"}]}}),
        );
        bad("]={}].");
        ok("a\\.b=c", json!({"a.b": "c"}));
        ok(
            "annotations.kubernetes\\.io/role=web",
            json!({"annotations": {"kubernetes.io/role": "web"}}),
        );
        bad(&format!("list[{}]=x", MAX_INDEX + 1));
    }

    /// Helm's `testsString` cases: `--set-string` never infers.
    #[test]
    fn helm_parse_set_string_cases() {
        for (expr, expected) in [
            (
                "long_int_string=1234567890",
                json!({"long_int_string": "1234567890"}),
            ),
            ("boolean=true", json!({"boolean": "true"})),
            ("is_null=null", json!({"is_null": "null"})),
            ("zero=0", json!({"zero": "0"})),
        ] {
            assert_eq!(Value::Object(parse(expr, Mode::String).unwrap()), expected);
        }
    }

    /// Helm's `TestParseInto` cases: later expressions extend earlier data.
    #[test]
    fn helm_parse_into_cases() {
        let mut got = json!({"outer": {"inner1": "overwrite", "inner2": "value2"}})
            .as_object()
            .unwrap()
            .clone();
        parse_into(
            "outer.inner1=value1,outer.inner3=value3,outer.inner4=4",
            Mode::Typed,
            &mut got,
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"outer": {"inner1": "value1", "inner2": "value2", "inner3": "value3", "inner4": 4}})
        );

        let mut got = Map::new();
        parse_into("listOuter[0][0].type=listValue", Mode::Typed, &mut got).unwrap();
        parse_into("listOuter[0][0].status=alive", Mode::Typed, &mut got).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"listOuter": [[{"type": "listValue", "status": "alive"}]]})
        );

        let mut got = Map::new();
        parse_into("listOuter[0][0].type=listValue", Mode::Typed, &mut got).unwrap();
        parse_into("listOuter[1][0].status=alive", Mode::Typed, &mut got).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"listOuter": [[{"type": "listValue"}], [{"status": "alive"}]]})
        );

        let mut got = json!({"listOuter": [[[{"exited": "old"}]]]})
            .as_object()
            .unwrap()
            .clone();
        parse_into("listOuter[0][1][0].type=listValue", Mode::Typed, &mut got).unwrap();
        parse_into("listOuter[0][0][1].status=alive", Mode::Typed, &mut got).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"listOuter": [[[{"exited": "old"}, {"status": "alive"}], [{"type": "listValue"}]]]})
        );

        let mut got = json!({"outer": {"inner1": "overwrite", "inner2": "value2"}})
            .as_object()
            .unwrap()
            .clone();
        parse_into("outer.inner1=1,outer.inner3=3", Mode::String, &mut got).unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"outer": {"inner1": "1", "inner2": "value2", "inner3": "3"}})
        );
    }

    /// Helm's `TestParseJSON` cases.
    #[test]
    fn helm_parse_json_cases() {
        let mut got = json!({"outer": {"inner1": "overwrite", "inner2": "value2"}})
            .as_object()
            .unwrap()
            .clone();
        parse_into(
            r#"outer.inner1="1",outer.inner3=3,outer.inner4=true,outer.inner5="true""#,
            Mode::Json,
            &mut got,
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"outer": {"inner1": "1", "inner2": "value2", "inner3": 3, "inner4": true, "inner5": "true"}})
        );

        let mut got = json!({"outer": {"inner1": {"x": "overwrite"}, "inner2": "value2", "inner3": ["overwrite"]}}).as_object().unwrap().clone();
        parse_into(
            r#"outer.inner1={"a":"1","b":2,"c":[1,2,3]},outer.inner3=["new value 1","new value 2"],outer.inner4={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner5=[{"A":"1","B":2,"C":[1,2,3]}]"#,
            Mode::Json,
            &mut got,
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"outer": {"inner1": {"a": "1", "b": 2, "c": [1, 2, 3]}, "inner2": "value2", "inner3": ["new value 1", "new value 2"],
                "inner4": {"aa": "1", "bb": 2, "cc": [1, 2, 3]}, "inner5": [{"A": "1", "B": 2, "C": [1, 2, 3]}]}})
        );

        let mut got = json!({"outer": {"inner1": {"x": "overwrite"}, "inner2": "value2"}})
            .as_object()
            .unwrap()
            .clone();
        parse_into(
            r#"outer.inner1=,outer.inner3={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner3.cc[1]=null"#,
            Mode::Json,
            &mut got,
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"outer": {"inner1": null, "inner2": "value2", "inner3": {"aa": "1", "bb": 2, "cc": [1, null, 3]}}})
        );

        assert!(parse(
            r#"outer.inner1={"a":"1","b":2,"c":[1,2,3]},outer.inner3=["new value 1","new value 2"],outer.inner4={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner5={"A":"1","B":2,"C":[1,2,3]}]"#,
            Mode::Json
        )
        .is_err());
    }
}
