//! Netlink replies and notifications as a `recv` returns them: framed into messages, then each
//! payload through every decoder (a dump hands every data message to its parser, whatever
//! its type).

use kernel::netlink::messages;
use kernel::netlink::uapi::NLMSG_ERROR;

/// Reads `data` as one received buffer.
pub fn run(data: &[u8]) {
    for message in messages(data) {
        let Ok(message) = message else { break };
        if message.ty == NLMSG_ERROR {
            let _ = message.ack().map_err(|e| e.to_string());
        }
        let p = message.payload;
        let _ = kernel::read::parse_link(p);
        let _ = kernel::read::parse_address(p);
        let _ = kernel::read::parse_route(p);
        let _ = kernel::read::parse_neighbour(p);
        let _ = dataplane::parse_link(p);
        let _ = dataplane::parse_addr(p);
    }
}
