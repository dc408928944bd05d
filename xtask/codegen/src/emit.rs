//! Rust source for one schema: a struct per (inline or common) struct type,
//! each with `write` (into any `Sink`: the frame buffer or a size counter),
//! `parse` (a nom parser built from `ferrokafka_protocol::parse`), `Default`, and under `cfg(test)` a `Sample` for round-trip tests.

use std::fmt::Write as _;

use heck::ToSnakeCase as _;

use super::schema::{Field, FieldType, Primitive, Schema, StructDef, Versions};

/// The Rust identifier of a schema field name.
pub(super) fn field_ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "type", "match", "ref", "self", "crate", "mod", "use", "where", "loop", "move", "static",
    ];
    let snake = name.to_snake_case();
    if KEYWORDS.contains(&snake.as_str()) {
        format!("r#{snake}")
    } else {
        snake
    }
}

/// The module name of a schema.
pub(super) fn module_name(schema: &str) -> String {
    schema.to_snake_case()
}

fn versions_expr(v: Versions, var: &str) -> String {
    if v.is_empty() {
        "false".to_string()
    } else if v.hi == i16::MAX && v.lo == 0 {
        "true".to_string()
    } else if v.hi == i16::MAX {
        format!("{var} >= {}", v.lo)
    } else if v.lo == v.hi {
        format!("{var} == {}", v.lo)
    } else {
        format!("({}..={}).contains(&{var})", v.lo, v.hi)
    }
}

struct Ctx<'a> {
    schema: &'a Schema,
    out: String,
}

fn is_nullable(field: &Field) -> bool {
    !field.nullable.intersect(field.versions).is_empty()
}

fn element_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Primitive(p) => match p {
            Primitive::Int8 => "i8".into(),
            Primitive::Int16 => "i16".into(),
            Primitive::Int32 => "i32".into(),
            Primitive::Int64 => "i64".into(),
            Primitive::Uint16 => "u16".into(),
            Primitive::Uint32 => "u32".into(),
            Primitive::Float64 => "f64".into(),
            Primitive::Bool => "bool".into(),
            Primitive::Uuid => "Uuid".into(),
            Primitive::String => "String".into(),
            Primitive::Bytes => "Bytes".into(),
            Primitive::Records => "RecordSet".into(),
        },
        FieldType::Struct(name) => name.clone(),
        FieldType::Array(inner) => format!("Vec<{}>", element_type(inner)),
    }
}

fn rust_type(field: &Field) -> String {
    let base = element_type(&field.ty);
    if is_nullable(field) {
        format!("Option<{base}>")
    } else {
        base
    }
}

fn default_expr(field: &Field) -> String {
    let nullable = is_nullable(field);
    if nullable && field.default.as_deref() == Some("null") {
        return "None".into();
    }
    let inner = match &field.ty {
        FieldType::Primitive(Primitive::Records) if nullable => return "None".into(),
        FieldType::Primitive(p) => {
            let d = field.default.clone().unwrap_or_default();
            match p {
                Primitive::Bool => {
                    if d.eq_ignore_ascii_case("true") {
                        "true".into()
                    } else {
                        "false".into()
                    }
                }
                Primitive::Float64 => {
                    if d.is_empty() {
                        "0.0".into()
                    } else {
                        format!("{d}_f64")
                    }
                }
                Primitive::Uuid => "Uuid::ZERO".into(),
                Primitive::String => format!("String::from({d:?})"),
                Primitive::Bytes => "Bytes::new()".into(),
                Primitive::Records => "RecordSet::default()".into(),
                _ => {
                    if d.is_empty() {
                        "0".into()
                    } else if let Some(hex) = d.strip_prefix("0x") {
                        format!("0x{hex}")
                    } else {
                        d
                    }
                }
            }
        }
        FieldType::Struct(name) => format!("{name}::default()"),
        FieldType::Array(inner) => format!("Vec::<{}>::new()", element_type(inner)),
    };
    if nullable {
        format!("Some({inner})")
    } else {
        inner
    }
}

/// Code writing `expr` (a reference to a value of `ty`) into `w`.
fn write_value(ty: &FieldType, expr: &str, compact: &str, field: &str) -> String {
    // `&self.x` is read as `self.x` for numbers (Copy), `item` (a reference) as `*item`.
    let copied = expr
        .strip_prefix('&')
        .map_or_else(|| format!("*{expr}"), str::to_string);
    let at = format!(".map_err(|k| EncodeError::new(message, version, {field:?}, k))?");
    match ty {
        FieldType::Primitive(p) => match p {
            Primitive::Int8 => format!("w.put_i8({copied});"),
            Primitive::Int16 => format!("w.put_i16({copied});"),
            Primitive::Int32 => format!("w.put_i32({copied});"),
            Primitive::Int64 => format!("w.put_i64({copied});"),
            Primitive::Uint16 => format!("w.put_u16({copied});"),
            Primitive::Uint32 => format!("w.put_u32({copied});"),
            Primitive::Float64 => format!("w.put_f64({copied});"),
            Primitive::Bool => format!("w.put_bool({copied});"),
            Primitive::Uuid => format!("w.put_uuid({expr});"),
            Primitive::String => format!("w.put_string({expr}, {compact}){at};"),
            Primitive::Bytes => format!("w.put_bytes({expr}, {compact}){at};"),
            Primitive::Records => format!("w.put_records({expr}, {compact}){at};"),
        },
        FieldType::Struct(_) => format!("({expr}).write(w, version, message)?;"),
        FieldType::Array(inner) => format!(
            "w.put_len(({expr}).len(), {compact}){at};\nfor item in {expr} {{\n{}\n}}",
            write_value(inner, "item", compact, field)
        ),
    }
}

/// Code writing field `f` (possibly nullable) of `self`.
fn write_field(field: &Field, compact: &str) -> String {
    let ident = field_ident(&field.name);
    let name = &field.name;
    if !is_nullable(field) {
        return write_value(&field.ty, &format!("&self.{ident}"), compact, name);
    }
    let null_ok = versions_expr(field.nullable, "version");
    let null = match &field.ty {
        FieldType::Primitive(Primitive::String) => format!("w.put_null_string({compact});"),
        FieldType::Primitive(Primitive::Bytes | Primitive::Records) => {
            format!("w.put_null_bytes({compact});")
        }
        FieldType::Array(_) => format!("w.put_null_len({compact});"),
        FieldType::Struct(_) => "w.put_i8(-1);".into(),
        FieldType::Primitive(_) => unreachable!("numbers are never nullable"),
    };
    let present = match &field.ty {
        FieldType::Struct(_) => format!(
            "w.put_i8(1);\n{}",
            write_value(&field.ty, "value", compact, name)
        ),
        _ => write_value(&field.ty, "value", compact, name),
    };
    format!(
        "match &self.{ident} {{\n\
         None if {null_ok} => {{ {null} }}\n\
         None => return Err(EncodeError::new(message, version, {name:?}, EncodeErrorKind::NullNotAllowed)),\n\
         Some(value) => {{ {present} }}\n\
         }}"
    )
}

/// An expression parsing a value of `ty` from `input` (a `PResult`).
fn read_value(ty: &FieldType, compact: &str) -> String {
    match ty {
        FieldType::Primitive(p) => match p {
            Primitive::Int8 => "parse::int8(input)".into(),
            Primitive::Int16 => "parse::int16(input)".into(),
            Primitive::Int32 => "parse::int32(input)".into(),
            Primitive::Int64 => "parse::int64(input)".into(),
            Primitive::Uint16 => "parse::uint16(input)".into(),
            Primitive::Uint32 => "parse::uint32(input)".into(),
            Primitive::Float64 => "parse::float64(input)".into(),
            Primitive::Bool => "parse::boolean(input)".into(),
            Primitive::Uuid => "parse::uuid(input)".into(),
            Primitive::String => format!("parse::string(input, {compact})"),
            Primitive::Bytes => format!("parse::bytes(input, source, {compact})"),
            Primitive::Records => format!("parse::records(input, source, {compact})"),
        },
        FieldType::Struct(name) => format!("{name}::parse(input, source, version)"),
        FieldType::Array(inner) => format!(
            "parse::vec(input, {compact}, |input| {})",
            read_value(inner, compact)
        ),
    }
}

/// An expression parsing field `field` (possibly nullable) from `input`.
fn read_field(field: &Field, compact: &str) -> String {
    if !is_nullable(field) {
        return read_value(&field.ty, compact);
    }
    let null_ok = versions_expr(field.nullable, "version");
    let probe = match &field.ty {
        FieldType::Primitive(Primitive::String) => {
            format!("parse::nullable_string(input, {compact})")
        }
        FieldType::Primitive(Primitive::Bytes) => {
            format!("parse::nullable_bytes(input, source, {compact})")
        }
        FieldType::Primitive(Primitive::Records) => {
            format!("parse::nullable_records(input, source, {compact})")
        }
        FieldType::Array(inner) => format!(
            "parse::nullable_vec(input, {compact}, |input| {})",
            read_value(inner, compact)
        ),
        FieldType::Struct(name) => {
            format!("parse::nullable_struct(input, |input| {name}::parse(input, source, version))")
        }
        FieldType::Primitive(_) => unreachable!("numbers are never nullable"),
    };
    if null_ok == "true" {
        probe
    } else {
        format!("parse::null_check({null_ok}, {probe})")
    }
}

fn sample_base(ty: &FieldType) -> String {
    match ty {
        FieldType::Primitive(p) => match p {
            Primitive::Int8 => "rng.next_u64() as i8".into(),
            Primitive::Int16 => "rng.next_u64() as i16".into(),
            Primitive::Int32 => "rng.next_u64() as i32".into(),
            Primitive::Int64 => "rng.next_u64() as i64".into(),
            Primitive::Uint16 => "rng.next_u64() as u16".into(),
            Primitive::Uint32 => "rng.next_u64() as u32".into(),
            Primitive::Float64 => "rng.float()".into(),
            Primitive::Bool => "rng.below(2) == 1".into(),
            Primitive::Uuid => "rng.uuid()".into(),
            Primitive::String => "rng.string()".into(),
            Primitive::Bytes => "rng.bytes()".into(),
            Primitive::Records => "RecordSet::from(rng.bytes())".into(),
        },
        FieldType::Struct(name) => format!("{name}::sample(rng, version, depth + 1)"),
        FieldType::Array(inner) => {
            format!(
                "(0..rng.len(depth)).map(|_| {}).collect::<Vec<_>>()",
                sample_base(inner)
            )
        }
    }
}

fn sample_value(field: &Field, nullable_now: &str) -> String {
    let base = sample_base(&field.ty);
    if !is_nullable(field) {
        base
    } else if nullable_now == "false" {
        format!("Some({base})")
    } else {
        format!("if ({nullable_now}) && rng.below(4) == 0 {{ None }} else {{ Some({base}) }}")
    }
}

impl Ctx<'_> {
    fn emit_struct(&mut self, def: &StructDef, is_top: bool) {
        let flexible = self.schema.flexible;
        let out = &mut self.out;
        let _ = writeln!(
            out,
            "/// `{}` ({} versions {}).",
            def.name,
            self.schema.name,
            range_text(self.schema.valid)
        );
        let _ = writeln!(
            out,
            "#[derive(Debug, Clone, PartialEq)]\npub struct {} {{",
            def.name
        );
        for field in &def.fields {
            let tagged = field.tagged.map_or(String::new(), |(tag, v)| {
                format!(", tag {tag} in versions {}", range_text(v))
            });
            let _ = writeln!(
                out,
                "    /// Versions {}{}{}.\n    pub {}: {},",
                range_text(field.versions),
                if is_nullable(field) {
                    format!(", null in {}", range_text(field.nullable))
                } else {
                    String::new()
                },
                tagged,
                field_ident(&field.name),
                rust_type(field)
            );
        }
        let _ = writeln!(
            out,
            "    /// Tagged fields this version of the crate does not know, kept for re-encoding.\n    pub unknown_tagged_fields: Vec<RawTaggedField>,\n}}\n"
        );

        // Default
        let _ = writeln!(
            out,
            "impl Default for {} {{\n    fn default() -> Self {{\n        {} {{",
            def.name, def.name
        );
        for field in &def.fields {
            let _ = writeln!(
                out,
                "            {}: {},",
                field_ident(&field.name),
                default_expr(field)
            );
        }
        let _ = writeln!(
            out,
            "            unknown_tagged_fields: Vec::new(),\n        }}\n    }}\n}}\n"
        );

        let flex_expr = versions_expr(flexible, "version");
        let compact_for = |field: &Field| match field.flexible_override {
            Some(v) => versions_expr(v, "version"),
            None => "flexible".to_string(),
        };
        let mut tagged: Vec<&Field> = def.fields.iter().filter(|f| f.tagged.is_some()).collect();
        tagged.sort_by_key(|f| f.tagged.map(|(t, _)| t));

        // write
        let _ = writeln!(out, "impl {} {{", def.name);
        let _ = writeln!(
            out,
            "    /// Writes this value as `version` of `message` into `w`.\n    #[allow(unused_variables, clippy::too_many_lines, clippy::nonminimal_bool)]\n    pub fn write<W: Sink>(&self, w: &mut W, version: i16, message: &'static str) -> Result<(), EncodeError> {{\n        let flexible = {flex_expr};"
        );
        for field in def.fields.iter().filter(|f| f.tagged.is_none()) {
            let ident = field_ident(&field.name);
            let present = versions_expr(field.versions, "version");
            let absent = if field.ignorable {
                String::new()
            } else {
                format!(
                    " else if self.{ident} != {} {{ return Err(EncodeError::new(message, version, {:?}, EncodeErrorKind::FieldNotInVersion)); }}",
                    default_expr(field),
                    field.name
                )
            };
            let body = write_field(field, &compact_for(field));
            if present == "true" {
                let _ = writeln!(out, "{body}");
            } else {
                let _ = writeln!(out, "        if {present} {{\n{body}\n        }}{absent}");
            }
        }
        let _ = writeln!(out, "        if flexible {{");
        let _ = writeln!(
            out,
            "            let mut count = self.unknown_tagged_fields.len();"
        );
        for field in &tagged {
            let ident = field_ident(&field.name);
            let (_, tv) = field.tagged.expect("tagged");
            let _ = writeln!(
                out,
                "            if ({}) && self.{ident} != {} {{ count += 1; }}",
                versions_expr(tv.intersect(field.versions), "version"),
                default_expr(field)
            );
        }
        let _ = writeln!(
            out,
            "            w.put_uvarint(u32::try_from(count).unwrap_or(u32::MAX));"
        );
        let _ = writeln!(
            out,
            "            let mut unknown = self.unknown_tagged_fields.iter().peekable();"
        );
        for field in &tagged {
            let ident = field_ident(&field.name);
            let (tag, tv) = field.tagged.expect("tagged");
            let body = write_field(field, "true");
            if tag > 0 {
                let _ = writeln!(
                    out,
                    "            while let Some(raw) = unknown.next_if(|raw| raw.tag < {tag}) {{ raw.write(w); }}"
                );
            }
            let _ = writeln!(
                out,
                "            if ({}) && self.{ident} != {} {{\n                let mut size = SizeCounter::default();\n                {{ let w = &mut size; {body} }}\n                w.put_uvarint({tag});\n                w.put_uvarint(size.len_u32());\n                {body}\n            }}",
                versions_expr(tv.intersect(field.versions), "version"),
                default_expr(field),
            );
        }
        let _ = writeln!(out, "            for raw in unknown {{ raw.write(w); }}");
        let _ = writeln!(out, "        }}");
        for field in &tagged {
            if !field.ignorable {
                let ident = field_ident(&field.name);
                let (_, tv) = field.tagged.expect("tagged");
                let _ = writeln!(
                    out,
                    "        if !(flexible && ({})) && self.{ident} != {} {{ return Err(EncodeError::new(message, version, {:?}, EncodeErrorKind::FieldNotInVersion)); }}",
                    versions_expr(tv.intersect(field.versions), "version"),
                    default_expr(field),
                    field.name
                );
            }
        }
        let _ = writeln!(out, "        Ok(())\n    }}\n");

        // parse
        let _ = writeln!(
            out,
            "    /// Parses `version` of this value from `input`, a slice of `source`.\n    #[allow(unused_variables, unused_mut, clippy::too_many_lines, clippy::nonminimal_bool)]\n    pub fn parse<'a>(input: &'a [u8], source: Source<'a>, version: i16) -> PResult<'a, Self> {{\n        let flexible = {flex_expr};\n        let mut this = Self::default();"
        );
        for field in def.fields.iter().filter(|f| f.tagged.is_none()) {
            let present = versions_expr(field.versions, "version");
            let read = format!(
                "let (input, value) = field({:?}, {})?; this.{} = value;",
                field.name,
                read_field(field, &compact_for(field)),
                field_ident(&field.name),
            );
            if present == "true" {
                let _ = writeln!(out, "{read}");
            } else {
                let _ = writeln!(
                    out,
                    "let input = if {present} {{ {read} input }} else {{ input }};"
                );
            }
        }
        let _ = writeln!(
            out,
            "        let input = if flexible {{\n            let (input, ()) = field(\"_tagged_fields\", parse::tagged_fields(input, source, &mut this.unknown_tagged_fields, |tag, input| match tag {{"
        );
        for field in &tagged {
            let (tag, tv) = field.tagged.expect("tagged");
            let _ = writeln!(
                out,
                "                    {tag} if {} => {{ let (rest, value) = field({name:?}, {})?; field({name:?}, parse::end(rest))?; this.{} = value; Ok(true) }}",
                versions_expr(tv.intersect(field.versions), "version"),
                read_field(field, "true"),
                field_ident(&field.name),
                name = field.name,
            );
        }
        let _ = writeln!(
            out,
            "                    _ => Ok(false),\n                }}))?;\n            input\n        }} else {{\n            input\n        }};\n        Ok((input, this))\n    }}\n}}\n"
        );

        // sample
        let _ = writeln!(
            out,
            "#[cfg(any(test, feature = \"sample\"))]\nimpl crate::sample::Sample for {} {{\n    #[allow(unused_variables, clippy::nonminimal_bool)]\n    fn sample(rng: &mut crate::sample::Rng, version: i16, depth: u32) -> Self {{\n        let flexible = {flex_expr};\n        let mut this = Self::default();",
            def.name
        );
        for field in &def.fields {
            let present = presence_expr(field);
            let nullable_now = versions_expr(field.nullable, "version");
            let body = format!(
                "this.{} = {};",
                field_ident(&field.name),
                sample_value(field, &nullable_now)
            );
            let _ = writeln!(out, "{}", guarded(&present, &body));
        }
        let _ = writeln!(
            out,
            "        if flexible && rng.unknown_tags && rng.below(3) == 0 {{ this.unknown_tagged_fields.push(RawTaggedField {{ tag: 10_000 + rng.below(50) as u32, data: rng.bytes() }}); }}\n        this\n    }}\n}}\n"
        );

        // Kafka's JSON form (its generated JsonConverter classes), for golden fixtures.
        let _ = writeln!(
            out,
            "#[cfg(any(test, feature = \"sample\"))]\nimpl {} {{\n    /// This value in the JSON form of Kafka's `JsonConverter` classes.\n    #[allow(unused_variables, unused_mut, clippy::nonminimal_bool)]\n    pub fn to_kafka_json(&self, version: i16) -> serde_json::Value {{\n        let flexible = {flex_expr};\n        let mut map = serde_json::Map::new();",
            def.name
        );
        for field in &def.fields {
            let present = presence_expr(field);
            let key = json_key(&field.name);
            let body = format!("map.insert({key:?}.to_string(), {});", json_field(field));
            let _ = writeln!(out, "{}", guarded(&present, &body));
        }
        let _ = writeln!(out, "        serde_json::Value::Object(map)\n    }}\n}}\n");
        let _ = is_top;
    }
}

/// `body` under `condition`, or `body` alone when the condition always holds.
fn guarded(condition: &str, body: &str) -> String {
    if condition == "true" {
        body.to_string()
    } else {
        format!("if {condition} {{\n{body}\n}}")
    }
}

/// The condition under which `field` is on the wire in `version`: its
/// versions, and for a tagged field also the flexible versions.
fn presence_expr(field: &Field) -> String {
    match field.tagged {
        Some((_, tv)) => format!(
            "flexible && ({})",
            versions_expr(tv.intersect(field.versions), "version")
        ),
        None => versions_expr(field.versions, "version"),
    }
}

/// Kafka's JSON key: the field name with its first letter lowercased.
fn json_key(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

fn json_value(ty: &FieldType, expr: &str) -> String {
    match ty {
        FieldType::Primitive(p) => match p {
            Primitive::Uuid => format!("serde_json::Value::from(crate::sample::uuid_text({expr}))"),
            Primitive::Bytes => {
                format!("serde_json::Value::from(crate::sample::base64({expr}))")
            }
            Primitive::Records => {
                format!("serde_json::Value::from(crate::sample::base64(&({expr}).to_bytes()))")
            }
            Primitive::String => format!("serde_json::Value::from(({expr}).as_str())"),
            _ => format!(
                "serde_json::Value::from({})",
                expr.strip_prefix('&')
                    .map_or_else(|| format!("*{expr}"), str::to_string)
            ),
        },
        FieldType::Struct(_) => format!("({expr}).to_kafka_json(version)"),
        FieldType::Array(inner) => {
            format!(
                "serde_json::Value::Array(({expr}).iter().map(|item| {}).collect())",
                json_value(inner, "item")
            )
        }
    }
}

fn json_field(field: &Field) -> String {
    let ident = field_ident(&field.name);
    if is_nullable(field) {
        format!(
            "match &self.{ident} {{ None => serde_json::Value::Null, Some(value) => {} }}",
            json_value(&field.ty, "value")
        )
    } else {
        json_value(&field.ty, &format!("&self.{ident}"))
    }
}

fn range_text(v: Versions) -> String {
    if v.is_empty() {
        "none".into()
    } else if v.hi == i16::MAX {
        format!("{}+", v.lo)
    } else if v.lo == v.hi {
        v.lo.to_string()
    } else {
        format!("{}-{}", v.lo, v.hi)
    }
}

fn collect_structs(fields: &[Field], out: &mut Vec<StructDef>) {
    for field in fields {
        if let Some(inner) = &field.fields {
            let name = match &field.ty {
                FieldType::Struct(name) => name.clone(),
                FieldType::Array(inner_ty) => match inner_ty.as_ref() {
                    FieldType::Struct(name) => name.clone(),
                    _ => continue,
                },
                FieldType::Primitive(_) => continue,
            };
            if !out.iter().any(|s| s.name == name) {
                out.push(StructDef {
                    name,
                    fields: inner.clone(),
                });
            }
            collect_structs(inner, out);
        }
    }
}

/// The module source for `schema`.
pub(super) fn module(schema: &Schema) -> String {
    let mut structs = vec![StructDef {
        name: schema.name.clone(),
        fields: schema.fields.clone(),
    }];
    collect_structs(&schema.fields, &mut structs);
    for common in &schema.common {
        if !structs.iter().any(|s| s.name == common.name) {
            structs.push(common.clone());
            collect_structs(&common.fields, &mut structs);
        }
    }
    let mut ctx = Ctx {
        schema,
        out: String::new(),
    };
    let _ = writeln!(
        ctx.out,
        "//! `{}`: generated by `cargo xtask codegen` from Kafka's message schema. Do not edit.\n\n#![allow(clippy::all, clippy::pedantic, missing_docs, unused_imports, unused_mut)]\n\nuse bytes::Bytes;\n\nuse crate::RecordSet;\nuse crate::codec::{{EncodeError, EncodeErrorKind, RawTaggedField, Sink, SizeCounter, Uuid}};\nuse crate::parse::{{self, PResult, Source, field}};\n#[cfg(any(test, feature = \"sample\"))]\nuse crate::sample::Sample as _;\n",
        schema.name
    );
    for (i, def) in structs.iter().enumerate() {
        ctx.emit_struct(def, i == 0);
    }
    let flexible = if schema.flexible.is_empty() {
        "None".to_string()
    } else {
        format!("Some({})", schema.flexible.lo)
    };
    let _ = writeln!(
        ctx.out,
        "impl crate::Message for {name} {{\n    const NAME: &'static str = {name:?};\n    const VERSIONS: (i16, i16) = ({lo}, {hi});\n    const FIRST_FLEXIBLE_VERSION: Option<i16> = {flexible};\n    fn write_body<W: Sink>(&self, w: &mut W, version: i16) -> Result<(), EncodeError> {{ self.write(w, version, Self::NAME) }}\n    fn parse_body<'a>(input: &'a [u8], source: Source<'a>, version: i16) -> PResult<'a, Self> {{ Self::parse(input, source, version) }}\n}}",
        name = schema.name,
        lo = schema.valid.lo,
        hi = schema.valid.hi,
    );
    ctx.out
}
