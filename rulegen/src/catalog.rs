//! The field catalog: the single table of every field a `k8s_audit` rule can use.
//!
//! The table itself is the `field_catalog!` macro, so that one list drives several uses without a copy:
//! this crate builds `FieldId` and `FIELDS` from it (type checking, `list-fields`, docs, code generation),
//! and `kaudit-runtime` builds its extractor table from the same invocation (the `extractor` column
//! names a function in `kaudit_runtime::fields::extract`).
//!
//! Columns: `Variant: "name", type, list-ness, argument kind, extractor, "description";`

/// Value type of a field (spec §2.8, §5.6). Every `ka.*`/`jevt.*`/`json.*` field is `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    String,
    U64,
    Bool,
    /// Absolute time in ns since the epoch (numeric).
    AbsTime,
    /// Relative time in ns (numeric).
    RelTime,
}

impl FieldType {
    pub fn is_numeric(self) -> bool {
        matches!(self, FieldType::U64 | FieldType::AbsTime | FieldType::RelTime)
    }
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::U64 => "uint64",
            FieldType::Bool => "bool",
            FieldType::AbsTime => "abstime",
            FieldType::RelTime => "reltime",
        }
    }
}

/// What may or must follow the field name in brackets (spec §2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// No argument allowed.
    None,
    /// Optional numeric index (`[N]`).
    Index,
    /// Required key (`[key]`, e.g. `ka.uri.param[cmd]`, `jevt.value[/ptr]`).
    Key,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listness {
    Single,
    List,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    pub id: FieldId,
    pub name: &'static str,
    pub ty: FieldType,
    pub list: bool,
    pub arg: ArgKind,
    /// Function name in `kaudit_runtime::fields::extract`.
    pub extractor: &'static str,
    /// `FieldId` variant name (for generated code).
    pub variant: &'static str,
    pub doc: &'static str,
}

/// The catalog. Invoke as `field_catalog!(some_macro)`; `some_macro` receives every row.
#[macro_export]
macro_rules! field_catalog {
    ($cb:ident) => {
        $cb! {
            KaAuditid: "ka.auditid", String, Single, None, ka_auditid, "The unique id of the audit event";
            KaStage: "ka.stage", String, Single, None, ka_stage, "Stage of the request (e.g. RequestReceived, ResponseComplete, etc.)";
            KaVerb: "ka.verb", String, Single, None, ka_verb, "The action being performed";
            KaUserName: "ka.user.name", String, Single, None, ka_user_name, "The user name performing the request";
            KaUserGroups: "ka.user.groups", String, List, None, ka_user_groups, "The groups to which the user belongs";
            JevtValue: "jevt.value", String, Single, Key, json_value, "Value of the JSON pointer given as argument (legacy name of json.value)";
            JevtRawtime: "jevt.rawtime", String, Single, None, json_rawtime, "Event timestamp in nanoseconds, as text (legacy name of json.rawtime)";
        }
    };
}

macro_rules! define_catalog {
    ($($variant:ident : $name:literal, $ty:ident, $list:ident, $arg:ident, $extractor:ident, $doc:literal;)*) => {
        /// A field of the catalog; `id as usize` indexes `FIELDS`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum FieldId { $($variant),* }

        /// Every field, indexed by `FieldId`.
        pub static FIELDS: &[FieldInfo] = &[
            $(FieldInfo {
                id: FieldId::$variant,
                name: $name,
                ty: FieldType::$ty,
                list: matches!(Listness::$list, Listness::List),
                arg: ArgKind::$arg,
                extractor: stringify!($extractor),
                variant: stringify!($variant),
                doc: $doc,
            }),*
        ];
    };
}

field_catalog!(define_catalog);

impl FieldId {
    pub fn info(self) -> &'static FieldInfo {
        &FIELDS[self as usize]
    }
}

/// Looks a field up by its exact name (spec §2.8: no prefix matching).
pub fn lookup(name: &str) -> Option<&'static FieldInfo> {
    FIELDS.iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.id as usize, i, "{}", f.name);
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
