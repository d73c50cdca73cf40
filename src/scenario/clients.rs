//! Which client types a run plays: `--clients TYPE,...` keeps only the cases whose every
//! slot one of those types can fill, so one can run "everything this machine can run".
//!
//! Without `--clients`, every case runs except those that need an *opt-in* client type
//! ([`OPT_IN_CLIENT_TYPES`]): types added to the shipped scenarios after teams had set up
//! their runs. A team that starts only Element adapters must not find its run holding new
//! cases that wait forever for a client it never starts; it gets those cases by naming the
//! type (`--clients element-web,matrix-rust-sdk`, or `--clients all`).

use trafficlight_actors::case::CaseSpec;

/// Client types whose cases run only when `--clients` names them (or is `all`).
pub const OPT_IN_CLIENT_TYPES: &[&str] = &["matrix-rust-sdk"];

/// The client types a run plays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientSet {
    /// Every type but the opt-in ones (no `--clients`).
    #[default]
    Default,
    /// Every type, opt-in ones included (`--clients all`).
    All,
    /// Only these types.
    Only(Vec<String>),
}

impl ClientSet {
    /// Parses `--clients`: `all`, or types separated by commas (blanks around them ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        let types: Vec<String> = text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
        match types.as_slice() {
            [] => Err(format!("--clients needs at least one client type (or 'all'), not {text:?}")),
            [one] if one == "all" => Ok(ClientSet::All),
            _ => Ok(ClientSet::Only(types)),
        }
    }

    /// Whether a slot of type `client_type` (`None`: a requirement that names no type) can
    /// be filled.
    fn plays(&self, client_type: Option<&str>) -> bool {
        match (self, client_type) {
            (_, None) | (ClientSet::All, _) => true,
            (ClientSet::Default, Some(t)) => !OPT_IN_CLIENT_TYPES.contains(&t),
            (ClientSet::Only(types), Some(t)) => types.iter().any(|x| x == t),
        }
    }

    /// Splits `cases` into those this set plays and those left out, each of the latter
    /// with the reason.
    pub fn select(&self, cases: Vec<CaseSpec>) -> (Vec<CaseSpec>, Vec<(CaseSpec, String)>) {
        let mut kept = Vec::new();
        let mut left_out = Vec::new();
        for case in cases {
            let missing: Vec<String> = case
                .slots
                .iter()
                .filter(|s| !self.plays(s.requirement.type_key()))
                .map(|s| format!("{}={}", s.name, s.requirement))
                .collect();
            if missing.is_empty() {
                kept.push(case);
            } else {
                left_out.push((case, self.reason(&missing)));
            }
        }
        (kept, left_out)
    }

    fn reason(&self, missing: &[String]) -> String {
        match self {
            ClientSet::Only(types) => format!("{} not in --clients {}", missing.join(", "), types.join(",")),
            _ => format!("{} is an opt-in client type: name it in --clients to run this case", missing.join(", ")),
        }
    }
}
