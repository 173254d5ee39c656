//! Parsing and printing of the workbench's option enums from one definition: each derives
//! `clap::ValueEnum` (its names and aliases, which `--help` lists), and [`value_enum_text!`]
//! gives it the `FromStr` and `Display` that use those same names, so a name is spelled once.

use clap::ValueEnum;

/// `Display` and `FromStr` for a type deriving `clap::ValueEnum`, from its derived names:
/// `value_enum_text!(KernelChoice, "kernels")`. Parsing ignores case and accepts the aliases;
/// an unknown name gets "unknown kernels 'x' (expected one of: builtin, custom)".
#[macro_export]
macro_rules! value_enum_text {
    ($type:ty, $what:literal) => {
        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::value_names::write_name(self, f)
            }
        }

        impl ::std::str::FromStr for $type {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                $crate::value_names::parse(text, $what)
            }
        }
    };
}

/// Writes `value`'s derived name.
pub fn write_name<T: ValueEnum>(value: &T, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match value.to_possible_value() {
        Some(name) => f.write_str(name.get_name()),
        None => Err(std::fmt::Error),
    }
}

/// The value named `text` (any case, or an alias), or an error naming what was expected.
pub fn parse<T: ValueEnum>(text: &str, what: &str) -> Result<T, String> {
    T::from_str(text, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|name| name.get_name().to_owned())
            .collect();
        format!(
            "unknown {what} '{text}' (expected one of: {})",
            names.join(", ")
        )
    })
}
