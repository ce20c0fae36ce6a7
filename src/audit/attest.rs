//! Attestations: what Suture knows about an approved patch, as signed
//! statements another tool can check.
//!
//! A bundle is JSON lines, one DSSE envelope per line (the in-toto bundle
//! convention): first an in-toto Statement v1 with Suture's evidence predicate
//! (repro, gauntlet steps, risk, approvals, canary verdicts, the audit entries
//! about the patch), then one with a SLSA provenance v1 predicate. Both name
//! the same subjects: the patch digest and the sha256 of each file as the
//! patch leaves it. Each envelope is signed with ed25519 over DSSE's
//! pre-authentication encoding; the key id is the keyring's.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sign::{Key, Keyring};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const EVIDENCE_TYPE: &str = "https://suture.dev/attestation/hotfix-evidence/v1";
pub const SLSA_TYPE: &str = "https://slsa.dev/provenance/v1";
pub const BUILD_TYPE: &str = "https://suture.dev/hotfix/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    pub fn sha256(name: impl Into<String>, hex: impl Into<String>) -> Subject {
        Subject { name: name.into(), digest: BTreeMap::from([("sha256".to_string(), hex.into())]) }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Value,
}

impl Statement {
    pub fn new(subject: Vec<Subject>, predicate_type: &str, predicate: Value) -> Statement {
        Statement { kind: STATEMENT_TYPE.into(), subject, predicate_type: predicate_type.into(), predicate }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Wraps a statement in an envelope signed by `key`.
pub fn seal(statement: &Statement, key: &Key) -> Envelope {
    let body = serde_json::to_vec(statement).expect("a statement is plain JSON");
    let sig = key.sign_raw(&pae(PAYLOAD_TYPE, &body));
    Envelope {
        payload: B64.encode(&body),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![EnvelopeSignature { keyid: key.id(), sig: B64.encode(sig) }],
    }
}

/// A statement that verified, and who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub statement: Statement,
    pub signer: String,
    pub keyid: String,
}

/// Checks an envelope's signature against the keyring and reads its statement.
pub fn open(env: &Envelope, keyring: &Keyring) -> Result<Opened, String> {
    if env.payload_type != PAYLOAD_TYPE {
        return Err(format!("payloadType is {:?}, not {PAYLOAD_TYPE}", env.payload_type));
    }
    let body = B64.decode(&env.payload).map_err(|e| format!("the payload is not base64: {e}"))?;
    let message = pae(&env.payload_type, &body);
    if env.signatures.is_empty() {
        return Err("the envelope has no signatures".into());
    }
    let mut problems = Vec::new();
    for s in &env.signatures {
        let Some((owner, key)) = keyring.find(&s.keyid) else {
            problems.push(format!("key {} is not in the keyring", s.keyid));
            continue;
        };
        let Some(bytes) = B64.decode(&s.sig).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
            problems.push(format!("the signature by key {} is malformed", s.keyid));
            continue;
        };
        if key.verify_strict(&message, &Signature::from_bytes(&bytes)).is_err() {
            problems.push(format!("the signature by {owner}'s key {} does not verify", s.keyid));
            continue;
        }
        let statement: Statement = serde_json::from_slice(&body).map_err(|e| format!("the payload is not an in-toto statement: {e}"))?;
        if statement.kind != STATEMENT_TYPE {
            return Err(format!("_type is {:?}, not {STATEMENT_TYPE}", statement.kind));
        }
        return Ok(Opened { statement, signer: owner.to_string(), keyid: s.keyid.clone() });
    }
    Err(problems.join("; "))
}

/// What a bundle holds, once every envelope in it verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub statements: Vec<Opened>,
}

impl Checked {
    pub fn evidence(&self) -> Option<&Statement> {
        self.statements.iter().map(|o| &o.statement).find(|s| s.predicate_type == EVIDENCE_TYPE)
    }
}

/// Verifies a bundle (JSON lines of envelopes): every signature, the statement
/// types, both predicates present, the same subjects in each, and the patch
/// subject matching the digest the evidence records.
pub fn verify_bundle(text: &str, keyring: &Keyring) -> Result<Checked, String> {
    let mut statements = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let env: Envelope = serde_json::from_str(line).map_err(|e| format!("line {}: not a DSSE envelope: {e}", i + 1))?;
        let opened = open(&env, keyring).map_err(|e| format!("line {}: {e}", i + 1))?;
        statements.push(opened);
    }
    let find = |t: &str| statements.iter().find(|o| o.statement.predicate_type == t).map(|o| &o.statement);
    let evidence = find(EVIDENCE_TYPE).ok_or("no evidence statement in the bundle")?;
    let provenance = find(SLSA_TYPE).ok_or("no SLSA provenance statement in the bundle")?;
    if evidence.subject != provenance.subject {
        return Err("the evidence and the provenance name different subjects".into());
    }
    let digest = evidence.predicate.pointer("/patch/digest").and_then(Value::as_str).ok_or("the evidence names no patch digest")?;
    let id = evidence.predicate.pointer("/patch/id").and_then(Value::as_str).unwrap_or_default();
    let named = evidence.subject.iter().find(|s| s.name == format!("patch:{id}"));
    if named.and_then(|s| s.digest.get("sha256")).map(String::as_str) != Some(digest) {
        return Err(format!("the subject patch:{id} does not carry the patch digest the evidence records"));
    }
    Ok(Checked { statements })
}

/// A bundle: the envelopes as JSON lines.
pub fn bundle(envelopes: &[Envelope]) -> String {
    envelopes.iter().map(|e| serde_json::to_string(e).expect("an envelope is plain JSON") + "\n").collect()
}

/// RFC 3339 for a millisecond timestamp.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_else(|_| ms.to_string())
}

/// The SLSA provenance predicate for a patch built (verified) by Suture.
pub fn provenance(
    external: Value,
    internal: Value,
    dependencies: Vec<Value>,
    invocation: &str,
    started: i64,
    finished: Option<i64>,
    byproducts: Vec<Value>,
) -> Value {
    let mut metadata = json!({ "invocationId": invocation, "startedOn": rfc3339(started) });
    if let Some(f) = finished {
        metadata["finishedOn"] = json!(rfc3339(f));
    }
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": internal,
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": { "id": format!("https://suture.dev/builder/local@{}", env!("CARGO_PKG_VERSION")) },
            "metadata": metadata,
            "byproducts": byproducts,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::sign::BOT;
    use std::path::Path;

    #[test]
    fn pae_matches_the_specs_example() {
        assert_eq!(pae("http://example.com/HelloWorld", b"hello world"), b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    }

    fn ring(keys: &[&Key]) -> Keyring {
        let mut r = Keyring::default();
        for k in keys {
            r.admit(k, Path::new("k"), Path::new("f")).unwrap();
        }
        r
    }

    fn sample(key: &Key) -> String {
        let subjects = vec![Subject::sha256("patch:abc", "d".repeat(64)), Subject::sha256("pricing.py", "e".repeat(64))];
        let ev = Statement::new(subjects.clone(), EVIDENCE_TYPE, json!({"patch": {"id": "abc", "digest": "d".repeat(64)}}));
        let prov = Statement::new(subjects, SLSA_TYPE, provenance(json!({}), json!({}), vec![], "x", 0, Some(1), vec![]));
        bundle(&[seal(&ev, key), seal(&prov, key)])
    }

    #[test]
    fn a_sealed_bundle_verifies_and_tampering_does_not() {
        let bob = Key::from_seed("bob", [4; 32]);
        let text = sample(&bob);
        let checked = verify_bundle(&text, &ring(&[&bob])).unwrap();
        assert_eq!(checked.statements.len(), 2);
        assert_eq!(checked.statements[0].signer, "bob");
        assert_eq!(checked.evidence().unwrap().subject.len(), 2);

        // Not in the keyring.
        let err = verify_bundle(&text, &ring(&[&Key::from_seed(BOT, [5; 32])])).unwrap_err();
        assert!(err.contains("line 1") && err.contains("not in the keyring"), "{err}");
        // A changed payload.
        let mut env: Envelope = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let mut st: Statement = serde_json::from_slice(&B64.decode(&env.payload).unwrap()).unwrap();
        st.subject[1].digest.insert("sha256".into(), "0".repeat(64));
        env.payload = B64.encode(serde_json::to_vec(&st).unwrap());
        let forged = bundle(&[env]) + text.lines().nth(1).unwrap();
        let err = verify_bundle(&forged, &ring(&[&bob])).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // A missing provenance.
        let err = verify_bundle(text.lines().next().unwrap(), &ring(&[&bob])).unwrap_err();
        assert!(err.contains("no SLSA provenance"), "{err}");
        assert!(verify_bundle("{", &ring(&[&bob])).unwrap_err().contains("line 1: not a DSSE envelope"));
    }
}
