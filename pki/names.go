package pki

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

// NamePolicy says which names central signs into a node's certificate.
// A node asks for the names it answers to; a name the policy does not
// allow is left out of the certificate (and reported), not a reason to
// refuse the enrollment.
//
// Loopback names (localhost, 127.0.0.0/8, ::1) are always allowed: only
// code already running on a client's own machine could pose as them.
// Reserved names are never allowed, even under an allowed domain or in an
// allowed network: central's members' names and addresses, so that a
// node's certificate, whose key lies on a commune PC that can be stolen,
// never names central to a browser or a client that trusts the province
// CA (xaso's own clients refuse a node's certificate as central anyway:
// MembersOnly). Wildcards are never signed.
type NamePolicy struct {
	// Domains are DNS domains: a name is allowed when it is one of them or
	// under one (lower case, without a leading dot).
	Domains []string
	// Networks are the IP networks whose addresses are allowed.
	Networks []*net.IPNet
	// Reserved are names and addresses never allowed.
	Reserved []string
}

// ParseNamePolicy reads the allowed names of a policy: each entry is a DNS
// domain ("communes.thanhhoa.gov.vn": that name and every name under it; a
// leading "." or "*." is the same) or an IP network in CIDR notation
// ("10.31.0.0/16"; a bare address is that address alone).
func ParseNamePolicy(entries []string) (NamePolicy, error) {
	var p NamePolicy
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "/") {
			_, n, err := net.ParseCIDR(e)
			if err != nil {
				return NamePolicy{}, fmt.Errorf("[%d]: %q is not an IP network (CIDR)", i, e)
			}
			p.Networks = append(p.Networks, n)
			continue
		}
		if ip := net.ParseIP(e); ip != nil {
			bits := 8 * len(ip.To4())
			if bits == 0 {
				bits = 128
			}
			p.Networks = append(p.Networks, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		d := normalName(strings.TrimPrefix(strings.TrimPrefix(e, "*"), "."))
		if !validDNSName(d) {
			return NamePolicy{}, fmt.Errorf("[%d]: %q is neither a DNS domain nor an IP network", i, e)
		}
		p.Domains = append(p.Domains, d)
	}
	return p, nil
}

// Allows reports whether the policy lets a node's certificate carry name
// (a DNS name or an IP address).
func (p NamePolicy) Allows(name string) bool {
	ip := net.ParseIP(name)
	if ip == nil {
		name = normalName(name)
		if !validDNSName(name) {
			return false
		}
	}
	switch {
	case ip != nil && ip.IsLoopback(), name == "localhost":
		return true
	case p.reserved(name, ip):
		return false
	case ip != nil:
		if ip.IsUnspecified() || ip.IsMulticast() {
			return false
		}
		return slices.ContainsFunc(p.Networks, func(n *net.IPNet) bool { return n.Contains(ip) })
	}
	return slices.ContainsFunc(p.Domains, func(d string) bool { return name == d || strings.HasSuffix(name, "."+d) })
}

func (p NamePolicy) reserved(name string, ip net.IP) bool {
	for _, r := range p.Reserved {
		if rip := net.ParseIP(r); rip != nil {
			if ip != nil && rip.Equal(ip) {
				return true
			}
		} else if ip == nil && normalName(r) == name {
			return true
		}
	}
	return false
}

// Filter splits a request's names into those the policy allows and the
// rest (as text).
func (p NamePolicy) Filter(dns []string, ips []net.IP) (okDNS []string, okIPs []net.IP, refused []string) {
	for _, d := range dns {
		if p.Allows(d) {
			okDNS = append(okDNS, normalName(d))
		} else {
			refused = append(refused, d)
		}
	}
	for _, ip := range ips {
		if p.Allows(ip.String()) {
			okIPs = append(okIPs, ip)
		} else {
			refused = append(refused, ip.String())
		}
	}
	return okDNS, okIPs, refused
}

// SplitHosts splits host names and IP addresses.
func SplitHosts(hosts []string) (dns []string, ips []net.IP) {
	for _, h := range hosts {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

// normalName is a DNS name in lower case without a trailing dot.
func normalName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// validDNSName reports whether s is a DNS name of letters, digits and
// hyphens (no wildcard).
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
