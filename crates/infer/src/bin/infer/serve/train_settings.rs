//! The settings of "Train here" ([`super::train_here`]): the training tool's own options,
//! given as JSON (`{"model": "lenet5", "lr": 0.01}` is `--model lenet5 --lr 0.01`), listed for
//! the page's form from the tool's option definitions and parsed and validated by the tool's
//! own parser ([`training::TrainArgs`]), so the page and the command line cannot disagree on
//! what a setting means or allows. Only the options that say where and how the server runs a
//! training ([`SERVER_OWNED`]) are the server's.

use anyhow::{Result, anyhow};
use clap::CommandFactory;
use serde::Serialize;
use serde_json::Value;
use training::TrainConfig;
use training::args::TrainArgs;

/// The training options that are the server's, not the page's: where the run goes and what
/// it runs on, and one network per run.
pub const SERVER_OWNED: [&str; 7] = [
    "artifacts",
    "resume",
    "data_dir",
    "plain",
    "backend",
    "restarts",
    "ensemble",
];

/// What the page's form starts from where it differs from the tool's defaults: a run a
/// classroom laptop finishes in seconds.
pub const PAGE_PRESET: [(&str, &str); 3] = [
    ("epochs", "2"),
    ("train_limit", "10000"),
    ("test_limit", "2000"),
];

/// One setting of the form: a training option.
#[derive(Clone, Debug, Serialize)]
pub struct Setting {
    /// Its JSON key: the option's long name without the dashes.
    pub name: String,
    /// The option's help line.
    pub help: String,
    /// The tool's default, if it has one.
    pub default: Option<String>,
    /// The page's starting value where it differs ([`PAGE_PRESET`]).
    pub preset: Option<String>,
    /// Its values, for options that take one of a list.
    pub choices: Vec<String>,
    /// False for a switch (`true` turns it on).
    pub takes_value: bool,
}

/// The options the page may set, from the training tool's own definitions.
pub fn page_settings() -> Vec<Setting> {
    TrainArgs::command()
        .get_arguments()
        .filter(|arg| !arg.is_hide_set() && arg.get_long().is_some())
        .filter(|arg| !SERVER_OWNED.contains(&arg.get_id().as_str()))
        .map(|arg| {
            let id = arg.get_id().as_str();
            Setting {
                name: arg.get_long().unwrap_or(id).to_string(),
                help: arg.get_help().map(ToString::to_string).unwrap_or_default(),
                default: arg
                    .get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned()),
                preset: PAGE_PRESET
                    .iter()
                    .find(|(name, _)| *name == id)
                    .map(|(_, value)| (*value).to_string()),
                choices: arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect(),
                takes_value: arg.get_action().takes_values(),
            }
        })
        .collect()
}

/// The page's settings (a JSON object of option names and values) as the training tool's
/// command line, parsed and validated by it: the configuration and its warnings, or what is
/// wrong, naming the setting.
pub fn parse_settings(
    settings: &serde_json::Map<String, Value>,
) -> Result<(TrainConfig, Vec<String>)> {
    let options = TrainArgs::command();
    let mut words = vec!["training".to_string()];
    for (name, value) in settings {
        let Some(arg) = options
            .get_arguments()
            .find(|arg| arg.get_long() == Some(name.as_str()))
        else {
            return Err(anyhow!(
                "unknown setting '{name}' (GET /api/train lists the settings)"
            ));
        };
        if SERVER_OWNED.contains(&arg.get_id().as_str()) {
            return Err(anyhow!(
                "'{name}' is the server's to choose, not a setting of the page"
            ));
        }
        let flag = format!("--{name}");
        if !arg.get_action().takes_values() {
            // A switch: true (or "true", as a form sends it) turns it on.
            match value {
                Value::Bool(true) => words.push(flag),
                Value::String(text) if text == "true" => words.push(flag),
                Value::Null | Value::Bool(false) => {}
                Value::String(text) if text == "false" => {}
                _ => return Err(anyhow!("'{name}' is a switch: true or false, not {value}")),
            }
            continue;
        }
        match value {
            Value::Null => {}
            Value::Bool(_) | Value::Number(_) | Value::String(_) => {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                words.push(flag);
                words.push(text);
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(anyhow!(
                    "'{name}': a setting is a string, a number or true/false"
                ));
            }
        }
    }
    let args = TrainArgs::try_parse_words(&words).map_err(|error| {
        // clap says what is wrong with which option, with the values it takes and a tip; its
        // usage lines are the command line's, not the page's.
        let text = error.to_string();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more"))
            .collect();
        anyhow!("{}", lines.join(" ").trim_start_matches("error: "))
    })?;
    let config = args.to_config()?;
    Ok((config, args.warnings()))
}
