//! zebra's interfaces (`show interface vrf all json`) read straight into what the agent keeps:
//! name, VRF, state and addresses. At scale the output is megabytes (thousands of interfaces,
//! dozens of fields each); read as a JSON tree first it took ten times that in memory for a
//! moment, memory the process then kept. Here every other field is skipped as it is read.

use std::fmt;

use ipnet::IpNet;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::state::ZebraInterface;

/// A visitor's `visit_*` methods for scalars (booleans, numbers, strings, null): each one is
/// `$none`.
macro_rules! scalars_are {
    ($out:ty => $none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$out, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$out, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$out, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$out, E> {
            Ok($none)
        }
        fn visit_str<E>(self, _: &str) -> Result<$out, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<$out, E> {
            Ok($none)
        }
    };
}

/// Reads a list to its end, keeping nothing.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Reads an object to its end, keeping nothing.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// One JSON object of the output: an interface (it has one of [`INTERFACE_KEYS`]), or a level
/// keyed by VRF name whose values are interfaces (or further levels).
#[derive(Default)]
struct Node {
    is_interface: bool,
    vrf: Option<String>,
    up: bool,
    addresses: Vec<IpNet>,
    /// The objects under this one, by key: the interfaces when this is a level.
    children: Vec<(String, Node)>,
}

/// The keys that make an object an interface rather than a level.
const INTERFACE_KEYS: [&str; 4] = ["ipAddresses", "operationalStatus", "index", "vrfName"];

impl Node {
    /// The interfaces of this node: itself when it is one (and has a name: the top level is
    /// never an interface), else those of its children.
    fn collect(self, name: Option<String>, out: &mut Vec<ZebraInterface>) {
        match name {
            Some(name) if self.is_interface => {
                out.push(ZebraInterface { name, vrf: self.vrf, up: self.up, addresses: self.addresses })
            }
            _ => {
                for (key, child) in self.children {
                    child.collect(Some(key), out);
                }
            }
        }
    }
}

/// Any JSON value: an object is read as a [`Node`], anything else skipped.
struct MaybeNode(Option<Node>);

impl<'de> de::Deserialize<'de> for MaybeNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor { top: false })
    }
}

/// `top`: the output's outermost object, whose children are always kept.
struct NodeVisitor {
    top: bool,
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = MaybeNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MaybeNode, A::Error> {
        let mut node = Node::default();
        while let Some(key) = map.next_key::<String>()? {
            if INTERFACE_KEYS.contains(&key.as_str()) {
                node.is_interface = true;
            }
            match key.as_str() {
                "ipAddresses" => node.addresses = map.next_value::<Addresses>()?.0,
                "operationalStatus" => node.up = map.next_value::<Text>()?.0.as_deref() == Some("up"),
                "vrfName" => node.vrf = map.next_value::<Text>()?.0,
                // Only an interface's nested objects and a level's interfaces are objects:
                // those are kept until it is known which this is (see `collect`).
                _ => {
                    if let Some(child) = map.next_value::<MaybeNode>()?.0
                        && (self.top || !node.is_interface)
                    {
                        node.children.push((key, child));
                    }
                }
            }
        }
        if node.is_interface && !self.top {
            node.children.clear();
        }
        Ok(MaybeNode(Some(node)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeNode, A::Error> {
        skip_seq(seq)?;
        Ok(MaybeNode(None))
    }

    scalars_are!(MaybeNode => MaybeNode(None));
}

/// A string, or a number as text; anything else is `None`.
struct Text(Option<String>);

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<Text, E> {
                Ok(Text(Some(s.to_string())))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Text, E> {
                Ok(Text(Some(n.to_string())))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Text, E> {
                Ok(Text(Some(n.to_string())))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Text, E> {
                Ok(Text(Some(serde_json::Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
                skip_seq(seq)?;
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
                skip_map(map)?;
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ipAddresses`: the `address` of each object of the list that parses as a prefix.
struct Addresses(Vec<IpNet>);

impl<'de> de::Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Addresses;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Addresses, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = seq.next_element::<Address>()? {
                    out.extend(entry.0);
                }
                Ok(Addresses(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Addresses, A::Error> {
                skip_map(map)?;
                Ok(Addresses(Vec::new()))
            }
            scalars_are!(Addresses => Addresses(Vec::new()));
        }
        d.deserialize_any(V)
    }
}

/// One entry of `ipAddresses`: its `address` when it is an object with a prefix there.
struct Address(Option<IpNet>);

impl<'de> de::Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Address;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Address, A::Error> {
                let mut address = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "address" {
                        // The first `address` wins, as a map lookup would find it.
                        let text = map.next_value::<Text>()?.0;
                        if address.is_none() {
                            address = Some(text.and_then(|t| t.parse::<IpNet>().ok()));
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Address(address.flatten()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Address, A::Error> {
                skip_seq(seq)?;
                Ok(Address(None))
            }
            scalars_are!(Address => Address(None));
        }
        d.deserialize_any(V)
    }
}

/// Reads the output of `show interface vrf all json` (an object keyed by interface name; an
/// object keyed by VRF name around those is accepted too); sorted by name. Empty output is no
/// interface.
pub(crate) fn parse(json: &str) -> Result<Vec<ZebraInterface>, serde_json::Error> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = serde_json::Deserializer::from_str(json);
    let top = de::Deserializer::deserialize_any(&mut reader, NodeVisitor { top: true })?;
    reader.end()?;
    let mut out = Vec::new();
    if let Some(node) = top.0 {
        node.collect(None, &mut out);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ifs: &[ZebraInterface]) -> Vec<&str> {
        ifs.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn only_the_kept_fields_are_read_whatever_else_is_there() {
        let json = r#"{
          "eth0": {"administrativeStatus": "up", "mtu": 1500, "evpnMh": {"index": 3, "vrfName": "x"},
                   "operationalStatus": "up", "vrfName": "default",
                   "ipAddresses": [{"address": "192.0.2.1/24", "secondary": false}, {"address": "fe80::1/64"},
                                   {"address": "not an address"}, 7, {"other": "198.51.100.1/24"}]},
          "vxlan100": {"index": 12, "operationalStatus": "down", "vrfName": 5, "linkDetection": {"a": [1, 2]}},
          "lo": {"index": 1},
          "junk": [1, 2, 3],
          "odd": "text"
        }"#;
        let ifs = parse(json).unwrap();
        assert_eq!(names(&ifs), ["eth0", "lo", "vxlan100"]);
        let eth0 = &ifs[0];
        assert!(eth0.up);
        assert_eq!(eth0.vrf.as_deref(), Some("default"));
        let addrs: Vec<String> = eth0.addresses.iter().map(ToString::to_string).collect();
        assert_eq!(addrs, ["192.0.2.1/24", "fe80::1/64"]);
        // A number where a name is expected reads as its text; a nested object of an
        // interface is not an interface of its own.
        assert_eq!(ifs[2].vrf.as_deref(), Some("5"));
        assert!(!ifs[2].up && ifs[2].addresses.is_empty());
        assert_eq!((ifs[1].vrf.as_deref(), ifs[1].up), (None, false));
    }

    #[test]
    fn levels_keyed_by_vrf_hold_the_interfaces() {
        let json = r#"{"red": {"ethred": {"vrfName": "red", "ipAddresses": [{"address": "10.0.0.1/24"}]}},
                       "default": {"lo": {"index": 1}, "deeper": {"eth9": {"index": 9}}}}"#;
        let ifs = parse(json).unwrap();
        assert_eq!(names(&ifs), ["eth9", "ethred", "lo"]);
        assert_eq!(ifs[1].addresses[0].to_string(), "10.0.0.1/24");
    }

    #[test]
    fn empty_output_is_no_interface_and_broken_output_an_error() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("  \n").unwrap().is_empty());
        assert!(parse("[]").unwrap().is_empty());
        assert!(parse("{}").unwrap().is_empty());
        assert!(parse("not json").is_err());
        assert!(parse(r#"{"eth0": {"index": 1}"#).is_err(), "unterminated");
        assert!(parse(r#"{"eth0": {"index": 1}} trailing"#).is_err());
        // The top level is never an interface, even with an interface's keys.
        assert_eq!(names(&parse(r#"{"index": 1, "eth0": {"index": 2}}"#).unwrap()), ["eth0"]);
    }
}
