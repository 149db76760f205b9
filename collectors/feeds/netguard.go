package feeds

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// The crawler fetches URLs that strangers write (links, redirects, feed
// items), so a page could point it at the unit's own network: the metrics
// endpoint, a database, a cloud metadata address. A URL check cannot stop
// that (DNS names resolve anywhere, redirects move, numbers have many
// spellings), so the check sits in the dialer: every connection, including
// each redirect's and robots.txt's, is checked on the address it is about
// to connect to, after resolution. Internal addresses are refused unless
// the configuration names them (the demo sites and tests run on loopback).

// ErrAddressRefused marks a connection the crawler refused to open.
var ErrAddressRefused = errors.New("address refused by the crawler's network policy")

// refusedError names the address that was refused.
type refusedError struct{ addr netip.AddrPort }

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s is an internal address (loopback, private, link-local, multicast or unspecified) not in crawl-allow", e.addr)
}

func (e *refusedError) Unwrap() error { return ErrAddressRefused }

// addrPolicy is the crawl-allow list.
type addrPolicy struct {
	prefixes []netip.Prefix
	exact    map[netip.AddrPort]bool
}

// parseAllow reads allow-list entries: an address (10.0.0.5), a prefix
// (127.0.0.1/32, fd00::/8) or one address and port (127.0.0.1:8081,
// [::1]:8081).
func parseAllow(entries []string) (*addrPolicy, error) {
	p := &addrPolicy{exact: map[netip.AddrPort]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(e); err == nil {
			p.exact[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
			continue
		}
		if pr, err := netip.ParsePrefix(e); err == nil {
			p.prefixes = append(p.prefixes, pr.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		return nil, fmt.Errorf("crawl-allow %q: want an address, a prefix such as 127.0.0.1/32, or address:port", e)
	}
	return p, nil
}

// special are ranges that are not the public internet besides those the
// netip predicates name.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("::ffff:0:0/96"),   // mapped (checked unmapped too)
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("2002::/16"),       // 6to4, which embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, likewise
	netip.MustParsePrefix("2001::/32"),       // Teredo, likewise
	netip.MustParsePrefix("ff00::/8"),        // multicast (all scopes)
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("::1/128"),         // loopback
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
}

// internal reports whether a is anything but a public unicast address.
func internal(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range special {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// permit returns nil for a public address or one the allow list names.
func (p *addrPolicy) permit(ap netip.AddrPort) error {
	a := ap.Addr().Unmap()
	if !internal(a) {
		return nil
	}
	if p != nil {
		if p.exact[netip.AddrPortFrom(a, ap.Port())] {
			return nil
		}
		for _, pr := range p.prefixes {
			if pr.Contains(a) {
				return nil
			}
		}
	}
	return &refusedError{addr: netip.AddrPortFrom(a, ap.Port())}
}

// control is the net.Dialer hook: it runs after resolution, on the very
// address the socket is about to connect to.
func (p *addrPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read dial address %q", ErrAddressRefused, address)
	}
	return p.permit(ap)
}

// guardedTransport is the crawler's HTTP transport: the defaults of
// net/http, no proxy from the environment (a proxy would dial on our
// behalf, past the check), and a dialer that applies the policy.
func guardedTransport(p *addrPolicy) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
