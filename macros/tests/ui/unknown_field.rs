kaudit_macros::compile_rules!(from_env = "KAUDIT_UI_UNKNOWN_FIELD");

fn main() {}
