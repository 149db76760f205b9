// Package faults proves the platform's promises against real netpulse
// processes: nothing acknowledged is lost or duplicated across kill -9, a
// full disk or a failing store; overload is answered with Retry-After;
// hostile input gets a clear 4xx; every route refuses the roles that may not
// use it; every look at personal data is audited. The package holds only
// tests; they build the netpulse binary once and drive it over loopback.
//
// NETPULSE_LONG=1 runs the long modes (more rounds, longer load).
package faults
