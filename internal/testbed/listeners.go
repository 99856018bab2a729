package testbed

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// AnyPort, as the value of a listener's environment variable passed to StartCollector, lets the collector
// bind a port of its own choosing (port 0, on a loopback address of its own); Collector.Addr reads it back
// once WaitReady returned. No port is picked by the test and released before the collector binds it.
const AnyPort = "127.0.0.1:0"

// listenerEnv are the listeners of the shipped configs and of the tests' own configs. StartCollector moves
// each to port 0 on a loopback address of its own (listenerIP), so the address a socket is bound to tells
// which listener it is. OTELCOL_ES_TELEMETRY stands for the pair OTELCOL_ES_TELEMETRY_HOST/_PORT.
var listenerEnv = []string{
	"OTELCOL_ES_OTLP_GRPC", "OTELCOL_ES_OTLP_HTTP", "OTELCOL_ES_PROMETHEUS", "OTELCOL_ES_TELEMETRY",
	"OTELCOL_ES_HEALTH", "OTELCOL_ES_PPROF", "OTELCOL_ES_ZPAGES",
	"OTELCOL_ES_PROMETHEUS_WRITE", "OTELCOL_ES_PROMETHEUS_READ", "OTELCOL_ES_PROMETHEUS_PROJECTION", "OTELCOL_ES_PROMETHEUS_APP",
	"OTELCOL_ES_GATEWAY_GRPC", "OTELCOL_ES_GATEWAY_HTTP",
}

// listenerIP is the loopback address of the i-th listener (127.0.0.0/8 is all loopback on Linux).
func listenerIP(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i) }

// boundListeners returns the addresses the TCP sockets of process pid listen on, by IP address (IPv4).
func boundListeners(pid int) (map[string]string, error) {
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		ipHex, portHex, _ := strings.Cut(f[1], ":")
		b, err := hex.DecodeString(ipHex)
		if err != nil || len(b) != 4 {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			continue
		}
		ip := net.IPv4(b[3], b[2], b[1], b[0]).String() // the kernel prints the address in host (little-endian) order
		out[ip] = net.JoinHostPort(ip, strconv.FormatUint(port, 10))
	}
	return out, nil
}
