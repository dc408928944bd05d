//! Kafka's JSON message schemas, as the generator reads them.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// An inclusive version range; empty when `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    pub(super) const NONE: Versions = Versions { lo: 1, hi: 0 };

    /// Parses `"0+"`, `"3-7"`, `"5"` or `"none"`.
    pub(super) fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text == "none" {
            return Ok(Versions::NONE);
        }
        if let Some(lo) = text.strip_suffix('+') {
            return Ok(Versions {
                lo: lo.parse()?,
                hi: i16::MAX,
            });
        }
        if let Some((lo, hi)) = text.split_once('-') {
            return Ok(Versions {
                lo: lo.parse()?,
                hi: hi.parse()?,
            });
        }
        let v = text
            .parse()
            .with_context(|| format!("version range {text:?}"))?;
        Ok(Versions { lo: v, hi: v })
    }

    pub(super) fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    pub(super) fn intersect(self, other: Versions) -> Versions {
        Versions {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        }
    }
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FieldType {
    Primitive(Primitive),
    Struct(String),
    Array(Box<FieldType>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Primitive {
    Int8,
    Int16,
    Int32,
    Int64,
    Uint16,
    Uint32,
    Float64,
    Bool,
    Uuid,
    String,
    Bytes,
    Records,
}

impl FieldType {
    fn parse(text: &str) -> FieldType {
        if let Some(inner) = text.strip_prefix("[]") {
            return FieldType::Array(Box::new(FieldType::parse(inner)));
        }
        let primitive = match text {
            "int8" => Primitive::Int8,
            "int16" => Primitive::Int16,
            "int32" => Primitive::Int32,
            "int64" => Primitive::Int64,
            "uint16" => Primitive::Uint16,
            "uint32" => Primitive::Uint32,
            "float64" => Primitive::Float64,
            "bool" => Primitive::Bool,
            "uuid" => Primitive::Uuid,
            "string" => Primitive::String,
            "bytes" => Primitive::Bytes,
            "records" => Primitive::Records,
            other => return FieldType::Struct(other.to_string()),
        };
        FieldType::Primitive(primitive)
    }
}

/// A field of a message or struct.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub name: String,
    pub ty: FieldType,
    pub versions: Versions,
    pub nullable: Versions,
    pub tagged: Option<(u32, Versions)>,
    pub ignorable: bool,
    pub default: Option<String>,
    /// A field-level override of the message's flexible versions (only
    /// RequestHeader's ClientId, which is never compact).
    pub flexible_override: Option<Versions>,
    /// Fields of an inline struct type.
    pub fields: Option<Vec<Field>>,
}

/// A named struct: the message itself, an inline one, or a common one.
#[derive(Debug, Clone)]
pub(super) struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

/// One schema file.
#[derive(Debug, Clone)]
pub(super) struct Schema {
    pub name: String,
    pub kind: String,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    pub fields: Vec<Field>,
    pub common: Vec<StructDef>,
}

fn strip_comments(text: &str) -> String {
    // `//` starts a comment only outside strings.
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            let c = bytes[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_string = false;
                }
            } else if c == b'"' {
                in_string = true;
            } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn string(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn boolean(value: &Value, key: &str) -> bool {
    match value.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn parse_fields(value: &Value, context: &str) -> anyhow::Result<Vec<Field>> {
    let Some(fields) = value.get("fields") else {
        return Ok(Vec::new());
    };
    let fields = fields
        .as_array()
        .with_context(|| format!("{context}: fields is not an array"))?;
    fields
        .iter()
        .map(|f| {
            let name =
                string(f, "name").with_context(|| format!("{context}: a field has no name"))?;
            let ty = FieldType::parse(
                &string(f, "type").with_context(|| format!("{context}.{name}: no type"))?,
            );
            let versions = Versions::parse(
                &string(f, "versions").with_context(|| format!("{context}.{name}: no versions"))?,
            )?;
            let nullable = string(f, "nullableVersions")
                .map_or(Ok(Versions::NONE), |v| Versions::parse(&v))?;
            let tagged = match (f.get("tag"), string(f, "taggedVersions")) {
                (Some(tag), Some(versions)) => {
                    let tag = tag
                        .as_u64()
                        .with_context(|| format!("{context}.{name}: tag is not a number"))?;
                    Some((u32::try_from(tag)?, Versions::parse(&versions)?))
                }
                (None, None) => None,
                _ => bail!("{context}.{name}: tag and taggedVersions go together"),
            };
            let flexible_override = string(f, "flexibleVersions")
                .map(|v| Versions::parse(&v))
                .transpose()?;
            let fields = if f.get("fields").is_some() {
                Some(parse_fields(f, &format!("{context}.{name}"))?)
            } else {
                None
            };
            Ok(Field {
                name,
                ty,
                versions,
                nullable,
                tagged,
                ignorable: boolean(f, "ignorable"),
                default: string(f, "default"),
                flexible_override,
                fields,
            })
        })
        .collect()
}

/// Reads one schema file.
pub(super) fn load(path: &Path) -> anyhow::Result<Schema> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&strip_comments(&text))
        .with_context(|| format!("parsing {}", path.display()))?;
    let name = string(&value, "name").context("schema has no name")?;
    let kind = string(&value, "type").context("schema has no type")?;
    let api_key = value
        .get("apiKey")
        .and_then(Value::as_i64)
        .map(i16::try_from)
        .transpose()?;
    let valid = Versions::parse(&string(&value, "validVersions").context("no validVersions")?)?;
    let flexible =
        string(&value, "flexibleVersions").map_or(Ok(Versions::NONE), |v| Versions::parse(&v))?;
    let fields = parse_fields(&value, &name)?;
    let mut common = Vec::new();
    if let Some(structs) = value.get("commonStructs").and_then(Value::as_array) {
        for s in structs {
            let struct_name = string(s, "name").context("common struct without a name")?;
            let fields = parse_fields(s, &format!("{name}.{struct_name}"))?;
            common.push(StructDef {
                name: struct_name,
                fields,
            });
        }
    }
    Ok(Schema {
        name,
        kind,
        api_key,
        valid,
        flexible,
        fields,
        common,
    })
}
