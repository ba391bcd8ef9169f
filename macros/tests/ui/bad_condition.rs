kaudit_macros::compile_rules!(from_env = "KAUDIT_UI_BAD_CONDITION");

fn main() {}
