//! What FRR's management daemon (mgmtd, FRR ≥ 10) says about itself: its back ends, the
//! sessions holding its configuration datastores, and its transactions. The applier reads these
//! before and when it cannot configure (see [`crate::vty`]).

/// The clients of `show mgmt backend-adapter all` (`Client: staticd`).
pub(crate) fn backends(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Client:"))
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The sessions `show mgmt frontend-adapter all` lists with datastore locks:
/// `CLIENT session ID holds DS, DS`.
pub(crate) fn lock_holders(output: &str) -> Vec<String> {
    let mut holders = Vec::new();
    let (mut client, mut session) = (String::new(), String::new());
    let mut locks: Option<Vec<String>> = None;
    let mut flush = |client: &str, session: &str, locks: &mut Option<Vec<String>>| {
        if let Some(held) = locks.take().filter(|l| !l.is_empty()) {
            holders.push(format!("{client} session {session} holds {}", held.join(", ")));
        }
    };
    for line in output.lines().map(str::trim) {
        let field = |name: &str| line.strip_prefix(name).map(|v| v.trim().to_string());
        if let Some(name) = field("Client:") {
            flush(&client, &session, &mut locks);
            client = name;
        } else if let Some(id) = field("Session-Id:") {
            session = id;
        } else if line == "DS-Locks:" {
            locks = Some(Vec::new());
        } else if let Some(held) = locks.as_mut() {
            if line.contains(':') || line.is_empty() {
                flush(&client, &session, &mut locks);
            } else if line != "None" {
                held.push(line.to_string());
            }
        }
    }
    flush(&client, &session, &mut locks);
    holders
}

/// The transactions `show mgmt transaction all` lists of type CONFIG, by the session that runs
/// each (0: mgmtd's own, such as a back end's initial configuration).
pub(crate) fn config_transactions(output: &str) -> Vec<u64> {
    let mut sessions = Vec::new();
    let mut session = None;
    for line in output.lines().map(str::trim) {
        if line.starts_with("Txn:") {
            session = None;
        } else if let Some(id) = line.strip_prefix("Session-Id:") {
            session = id.trim().parse().ok();
        } else if let Some(kind) = line.strip_prefix("Type:")
            && kind.trim() == "CONFIG"
        {
            sessions.push(session.unwrap_or(0));
        }
    }
    sessions
}

/// Words for the CONFIG transactions running (for messages).
pub(crate) fn describe_transactions(sessions: &[u64]) -> String {
    if sessions.is_empty() {
        return "no configuration transaction".into();
    }
    let each: Vec<String> = sessions
        .iter()
        .map(|s| {
            if *s == 0 {
                "one of mgmtd's own (a back end's initial configuration)".to_string()
            } else {
                format!("one of session {s}")
            }
        })
        .collect();
    format!("configuration transactions: {}", each.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_lock_holders_are_read_from_mgmtd() {
        let listed = "MGMTD Frontend Adpaters\n  Client: \t\t\t\tvtysh-1234\n    Conn-FD: \t\t\t\t12\n    Sessions\n      Session: \t\t\t\t0x55\n        Client-Id: \t\t\t3\n        Session-Id: \t\t\t7\n        DS-Locks:\n          candidate\n          running\n    Total-Sessions: \t\t\t1\n  Client: \t\t\t\tmgmtd\n    Sessions\n      Session: \t\t\t\t0x56\n        Session-Id: \t\t\t8\n        DS-Locks:\n          None\n    Total-Sessions: \t\t\t1\n  Total: 2\n";
        assert_eq!(lock_holders(listed), ["vtysh-1234 session 7 holds candidate, running"]);
        assert!(lock_holders("MGMTD Frontend Adpaters\n  Total: 0\n").is_empty());
    }

    #[test]
    fn backends_are_named() {
        let out = "MGMTD Backend Adapters\n  Client: \t\t\tzebra\n    Conn-FD: \t\t\t13\n  Client: \t\t\tstaticd\n  Total: 2\n";
        assert_eq!(backends(out), ["zebra", "staticd"]);
    }

    #[test]
    fn config_transactions_are_read_with_their_session() {
        let listed = "MGMTD Transactions\n  Txn: \t\t\t0x5561\n    Txn-Id: \t\t\t4\n    Session-Id: \t\t0\n    Type: \t\t\tCONFIG\n    Ref-Count: \t\t\t1\n  Txn: \t\t\t0x5562\n    Txn-Id: \t\t\t5\n    Session-Id: \t\t9\n    Type: \t\t\tSHOW\n    Ref-Count: \t\t\t1\n  Txn: \t\t\t0x5563\n    Txn-Id: \t\t\t6\n    Session-Id: \t\t12\n    Type: \t\t\tCONFIG\n    Ref-Count: \t\t\t2\n  Total: 3\n";
        assert_eq!(config_transactions(listed), [0, 12]);
        assert!(config_transactions("MGMTD Transactions\n  Total: 0\n").is_empty());
        assert_eq!(describe_transactions(&[]), "no configuration transaction");
        assert!(describe_transactions(&[0]).contains("initial configuration"));
    }
}
