//! KMS keys: the rows of ListKeys, the choices of an Encryption key select
//! (Create Disk, Create Instance), and the Settings page's Keys form
//! (Create Key, Unlock). The UI calls the key service as if its methods were
//! actions: `ListKeys`, `CreateKey` (Alias, Passphrase), `LockKey` (KeyId),
//! `UnlockKey` (KeyId, Passphrase) (`context::call`).

use serde_json::{json, Value};

use super::dialogs::Input;
use super::rows::{KeyRow, Read};

/// The alias of a region's default key (made on first use).
pub const DEFAULT_ALIAS: &str = "alias/acs/ecs";

/// ListKeys' keys (the default key first).
pub fn key_rows(v: &Value) -> Vec<KeyRow> {
    Vec::read(&v["Keys"])
}

/// An Encryption key select's options: (value, text, disabled). The
/// region's default key first (value "" until it exists: KMSKeyId is then
/// left out and ECS makes it), then the passphrase keys, locked ones
/// disabled.
pub fn key_options(keys: &[KeyRow]) -> Vec<(String, String, bool)> {
    let default = keys.iter().find(|k| k.is_default()).map(|k| k.key_id.clone()).unwrap_or_default();
    let mut out = vec![(default, format!("{DEFAULT_ALIAS} (default key)"), false)];
    out.extend(
        keys.iter().filter(|k| !k.is_default()).map(|k| (k.key_id.clone(), format!("{}{}", k.alias, if k.locked { " (locked)" } else { "" }), k.locked)),
    );
    out
}

/// A key as the lists show it: its alias (its id when the key is unknown).
pub fn key_name(keys: &[KeyRow], id: &str) -> String {
    keys.iter().find(|k| k.key_id == id).map_or_else(|| id.to_string(), |k| k.alias.clone())
}

/// A disk's or snapshot's Encrypted on its page: `No`, or `Yes, key alias (id)`.
pub fn encrypted_with(keys: &[KeyRow], encrypted: bool, id: &str) -> String {
    match (encrypted, key_name(keys, id)) {
        (false, _) => "No".into(),
        (true, name) if name.is_empty() => "Yes".into(),
        (true, name) if name == id => format!("Yes, key {id}"),
        (true, name) => format!("Yes, key {name} ({id})"),
    }
}

/// The Settings page's Keys section: Create Key's fields and the Unlock
/// passphrase being typed, with the alias of its key (the field's label);
/// one pair, not a map (a BTreeMap cost 5 KB of wasm).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeysForm {
    pub alias: String,
    pub passphrase: String,
    pub confirm: String,
    pub unlock: (String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum KeysAction {
    Alias(String),
    Passphrase(String),
    Confirm(String),
    /// (alias, passphrase) of a locked key's Unlock field.
    Unlock(String, String),
    /// Create Key succeeded: its fields empty.
    Created,
    /// A key was unlocked: its field empty.
    Unlocked(String),
}

impl KeysAction {
    pub fn of(i: Input) -> Option<KeysAction> {
        Some(match i.label.as_str() {
            "Key Alias" => KeysAction::Alias(i.value),
            "Key Passphrase" => KeysAction::Passphrase(i.value),
            "Confirm Passphrase" => KeysAction::Confirm(i.value),
            l => KeysAction::Unlock(l.strip_prefix("Passphrase for ")?.into(), i.value),
        })
    }
}

impl KeysForm {
    pub fn reduce(mut self, action: KeysAction) -> Self {
        match action {
            KeysAction::Alias(v) => self.alias = v,
            KeysAction::Passphrase(v) => self.passphrase = v,
            KeysAction::Confirm(v) => self.confirm = v,
            KeysAction::Unlock(a, v) => self.unlock = (a, v),
            KeysAction::Created => (self.alias, self.passphrase, self.confirm) = Default::default(),
            KeysAction::Unlocked(a) if a == self.unlock.0 => self.unlock = Default::default(),
            KeysAction::Unlocked(_) => {}
        }
        self
    }

    /// Why Create Key cannot be sent yet (None: it can).
    pub fn problem(&self) -> Option<&'static str> {
        if self.alias.trim().is_empty() {
            Some("Give the key an alias.")
        } else if self.passphrase.chars().count() < 8 {
            Some("The passphrase has at least 8 characters.")
        } else if self.passphrase != self.confirm {
            Some("The passphrases differ.")
        } else {
            None
        }
    }

    /// CreateKey's parameters.
    pub fn create_request(&self) -> Value {
        json!({"Alias": self.alias.trim(), "Passphrase": self.passphrase})
    }

    /// What `alias`'s Unlock field holds.
    pub fn unlock_passphrase(&self, alias: &str) -> &str {
        if self.unlock.0 == alias {
            &self.unlock.1
        } else {
            ""
        }
    }

    /// UnlockKey's parameters for `key`.
    pub fn unlock_request(&self, key: &KeyRow) -> Value {
        json!({"KeyId": key.key_id, "Passphrase": self.unlock_passphrase(&key.alias)})
    }
}

/// The encryption fields of Create Disk and Create Instance: `Encrypted` and
/// the chosen key ("": the default), into a disk's parameters.
pub fn encryption(params: &mut Value, encrypted: bool, key: &str) {
    if encrypted {
        params["Encrypted"] = json!(true);
        if !key.is_empty() {
            params["KMSKeyId"] = json!(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<KeyRow> {
        key_rows(&json!({"Keys": [
            {"KeyId": "k-def", "Alias": "alias/acs/ecs", "Origin": "Default", "Locked": false, "CreationTime": "2026-11-21T10:00:00Z", "Iterations": 0},
            {"KeyId": "k-1", "Alias": "alias/team", "Origin": "Passphrase", "Locked": true, "CreationTime": "2026-11-21T10:00:00Z", "Iterations": 600000},
        ], "TotalCount": 2}))
    }

    #[test]
    fn rows_options_and_names_of_keys() {
        let k = keys();
        assert_eq!((k[1].key_id.as_str(), k[1].alias.as_str(), k[1].locked, k[0].is_default()), ("k-1", "alias/team", true, true));
        assert_eq!(k[0].creation_time, "2026-11-21T10:00:00Z");
        assert_eq!(key_options(&k), vec![("k-def".into(), "alias/acs/ecs (default key)".into(), false), ("k-1".into(), "alias/team (locked)".into(), true)]);
        // No default key yet: its option leaves KMSKeyId out.
        assert_eq!(key_options(&k[1..])[0], (String::new(), "alias/acs/ecs (default key)".into(), false));
        assert_eq!((key_name(&k, "k-1"), key_name(&k, "k-9")), ("alias/team".into(), "k-9".into()));
        let texts = [encrypted_with(&k, false, ""), encrypted_with(&k, true, ""), encrypted_with(&k, true, "k-9"), encrypted_with(&k, true, "k-1")];
        assert_eq!(texts, ["No", "Yes", "Yes, key k-9", "Yes, key alias/team (k-1)"]);
    }

    #[test]
    fn keys_form_checks_and_requests() {
        let f = ["Key Alias=team", "Key Passphrase=correct horse", "Confirm Passphrase=correct hors", "Passphrase for alias/team=pw"]
            .iter()
            .map(|a| a.split_once('=').unwrap())
            .filter_map(|(l, v)| KeysAction::of(Input::text(l, v)))
            .fold(KeysForm::default(), KeysForm::reduce);
        assert_eq!(KeysAction::of(Input::text("Days to advance", "1")), None);
        assert_eq!(f.problem(), Some("The passphrases differ."));
        let f = f.reduce(KeysAction::Confirm("correct horse".into()));
        assert_eq!(f.problem(), None);
        assert_eq!(f.create_request(), json!({"Alias": "team", "Passphrase": "correct horse"}));
        assert_eq!(f.unlock_request(&keys()[1]), json!({"KeyId": "k-1", "Passphrase": "pw"}));
        assert_eq!((f.unlock_passphrase("alias/team"), f.unlock_passphrase("alias/other")), ("pw", ""));
        // Another key's Unlocked leaves this one's field as typed.
        assert_eq!(f.clone().reduce(KeysAction::Unlocked("alias/other".into())).unlock_passphrase("alias/team"), "pw");
        assert_eq!(f.clone().reduce(KeysAction::Passphrase("short".into())).problem(), Some("The passphrase has at least 8 characters."));
        let f = f.reduce(KeysAction::Created).reduce(KeysAction::Unlocked("alias/team".into()));
        assert_eq!(f, KeysForm::default());
        assert_eq!(f.problem(), Some("Give the key an alias."));
    }
}
