//! Admission before cost: connection and body-byte budgets, global and per client address.
//!
//! A connection takes a slot of its address before hyper sees a byte; a request body reserves its bytes
//! (the declared `Content-Length` up front, or each chunk as it arrives) before they are read. A budget
//! that is spent means "refuse now" (close the connection, answer 503 + Retry-After), never "allocate and
//! see". Per-address budgets are what keep one hostile address from starving another (the API server).
//! Reservations are RAII: dropping one gives its bytes back, wherever that happens (request failed, body
//! evaluated).

use super::metrics::Metrics;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// The budget key of a client: its IPv4 address, or the /64 of an IPv6 one (one host's usual share).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl AddrKey {
    pub fn of(ip: IpAddr) -> AddrKey {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                AddrKey(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => AddrKey(v4),
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Use {
    conns: usize,
    bytes: usize,
}

#[derive(Default)]
struct State {
    conns: usize,
    bytes: usize,
    by_addr: HashMap<AddrKey, Use>,
}

/// The limits enforced here.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// The global connection cap (the accept loop's semaphore enforces it; here it sets the reserve).
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub max_body_bytes: usize,
    pub max_body_bytes_per_address: usize,
}

/// Why something was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The address already holds its share.
    PerAddress,
    /// Everyone together holds the whole budget.
    Global,
    /// This one request is larger than a whole per-address budget: it can never be admitted.
    Never,
}

pub struct Admission {
    budgets: Budgets,
    state: Mutex<State>,
    /// `kaudit_connections_open` and `kaudit_body_bytes_in_use` follow the state.
    metrics: Arc<Metrics>,
}

impl Admission {
    pub fn new(budgets: Budgets, metrics: Arc<Metrics>) -> Arc<Admission> {
        Arc::new(Admission {
            budgets,
            state: Mutex::new(State::default()),
            metrics,
        })
    }

    fn publish(&self, st: &State) {
        use std::sync::atomic::Ordering::Relaxed;
        self.metrics
            .connections_open
            .store(st.conns as u64, Relaxed);
        self.metrics
            .body_bytes_in_use
            .store(st.bytes as u64, Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection slot of `ip`'s address. (The global connection cap is the accept loop's semaphore:
    /// there, waiting in the kernel queue is the right answer; here, closing at once is.)
    ///
    /// The last tenth of the global slots is a reserve for addresses holding less than an even share:
    /// many hostile addresses together cannot take every slot from one that holds few (the API server).
    pub fn connection(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, Denied> {
        let key = AddrKey::of(ip);
        let mut st = self.lock();
        let held = st.by_addr.get(&key).map_or(0, |u| u.conns);
        if held >= self.budgets.max_connections_per_address {
            return Err(Denied::PerAddress);
        }
        let max = self.budgets.max_connections;
        let unreserved = max - reserve(max);
        if st.conns >= unreserved {
            let holders = st.by_addr.values().filter(|u| u.conns > 0).count().max(1);
            if held >= (unreserved / holders).max(1) {
                return Err(Denied::Global);
            }
        }
        let u = st.by_addr.entry(key).or_default();
        u.conns += 1;
        st.conns += 1;
        self.publish(&st);
        Ok(ConnSlot {
            admission: self.clone(),
            key,
        })
    }

    /// An empty body reservation for `ip` (grown with `BodyBytes::grow`).
    pub fn body(self: &Arc<Self>, ip: IpAddr) -> BodyBytes {
        BodyBytes {
            admission: self.clone(),
            key: AddrKey::of(ip),
            held: 0,
        }
    }

    /// Open connections and reserved body bytes, all addresses.
    pub fn in_use(&self) -> (usize, usize) {
        let st = self.lock();
        (st.conns, st.bytes)
    }

    fn release(&self, key: AddrKey, conns: usize, bytes: usize) {
        let mut st = self.lock();
        st.conns -= conns;
        st.bytes -= bytes;
        if let Some(u) = st.by_addr.get_mut(&key) {
            u.conns -= conns;
            u.bytes -= bytes;
            if u.conns == 0 && u.bytes == 0 {
                st.by_addr.remove(&key);
            }
        }
        self.publish(&st);
    }
}

/// Global connection slots kept for addresses below an even share: a tenth (none for tiny caps).
fn reserve(max_connections: usize) -> usize {
    max_connections / 10
}

/// One open connection of an address; dropping it frees the slot.
pub struct ConnSlot {
    admission: Arc<Admission>,
    key: AddrKey,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.admission.release(self.key, 1, 0);
    }
}

/// Body bytes reserved for one request (and, once accepted, its queued events); dropping it gives them
/// back.
pub struct BodyBytes {
    admission: Arc<Admission>,
    key: AddrKey,
    held: usize,
}

impl BodyBytes {
    /// Reserves `n` more bytes, or nothing when either budget would be exceeded.
    pub fn grow(&mut self, n: usize) -> Result<(), Denied> {
        let b = self.admission.budgets;
        let cap = b.max_body_bytes_per_address.min(b.max_body_bytes);
        if self.held.saturating_add(n) > cap {
            return Err(Denied::Never);
        }
        let mut st = self.admission.lock();
        let addr_bytes = st.by_addr.get(&self.key).map_or(0, |u| u.bytes);
        if addr_bytes.saturating_add(n) > b.max_body_bytes_per_address {
            return Err(Denied::PerAddress);
        }
        if st.bytes.saturating_add(n) > b.max_body_bytes {
            return Err(Denied::Global);
        }
        st.bytes += n;
        st.by_addr.entry(self.key).or_default().bytes += n;
        self.admission.publish(&st);
        self.held += n;
        Ok(())
    }

    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for BodyBytes {
    fn drop(&mut self) {
        if self.held > 0 {
            self.admission.release(self.key, 0, self.held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adm() -> Arc<Admission> {
        Admission::new(
            Budgets {
                max_connections: 100,
                max_connections_per_address: 2,
                max_body_bytes: 100,
                max_body_bytes_per_address: 60,
            },
            Arc::new(Metrics::default()),
        )
    }

    #[test]
    fn one_address_cannot_take_another_ones_connections() {
        let a = adm();
        let bad: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.1".parse().unwrap();
        let s1 = a.connection(bad).unwrap();
        let _s2 = a.connection(bad).unwrap();
        assert_eq!(a.connection(bad).err(), Some(Denied::PerAddress));
        let _g = a.connection(good).unwrap();
        drop(s1);
        let _s3 = a.connection(bad).expect("a freed slot is reusable");
        assert_eq!(a.in_use().0, 3);
    }

    #[test]
    fn body_bytes_are_bounded_per_address_and_globally_and_given_back() {
        let a = adm();
        let (x, y, z): (IpAddr, IpAddr, IpAddr) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let mut bx = a.body(x);
        bx.grow(50).unwrap();
        assert_eq!(bx.grow(11), Err(Denied::Never));
        let mut bx2 = a.body(x);
        assert_eq!(bx2.grow(11), Err(Denied::PerAddress));
        bx.grow(10).unwrap();
        let mut by = a.body(y);
        by.grow(40).unwrap();
        let mut bz = a.body(z);
        assert_eq!(bz.grow(1), Err(Denied::Global));
        drop((bx, bx2));
        assert_eq!(a.in_use().1, 40);
        bz.grow(60).unwrap();
        drop((by, bz));
        assert_eq!(a.in_use(), (0, 0));
    }

    #[test]
    fn the_global_reserve_goes_to_addresses_below_an_even_share() {
        let a = Admission::new(
            Budgets {
                max_connections: 20,
                max_connections_per_address: 20,
                max_body_bytes: 1,
                max_body_bytes_per_address: 1,
            },
            Arc::new(Metrics::default()),
        );
        let ip = |n: u8| IpAddr::from([10, 0, 0, n]);
        // Two hostile addresses take the 18 unreserved slots.
        let mut held: Vec<ConnSlot> = (0..9).map(|_| a.connection(ip(1)).unwrap()).collect();
        held.extend((0..9).map(|_| a.connection(ip(2)).unwrap()));
        // At the reserve, they hold more than an even share (18 / 2 = 9): refused.
        assert_eq!(a.connection(ip(1)).err(), Some(Denied::Global));
        assert_eq!(a.connection(ip(2)).err(), Some(Denied::Global));
        // A third address gets in, twice (its share is 18 / 3 = 6).
        held.push(a.connection(ip(3)).unwrap());
        held.push(a.connection(ip(3)).unwrap());
        assert_eq!(a.in_use().0, 20);
    }

    #[test]
    fn ipv6_clients_share_a_budget_per_64_and_mapped_v4_is_v4() {
        let k = |s: &str| AddrKey::of(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:10.0.0.1"), k("10.0.0.1"));
    }
}
