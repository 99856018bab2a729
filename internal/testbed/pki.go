package testbed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// PKI is a throwaway CA, a localhost server certificate and a bearer token, written to files: what
// config/gateway.yaml's OTLP receiver demands.
type PKI struct {
	CA                *x509.Certificate
	CertFile, KeyFile string
	TokenFile, Token  string
}

// NewPKI writes a new PKI into a test directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otelcol-es test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)

	p := &PKI{CA: ca, CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		TokenFile: filepath.Join(dir, "token"), Token: "e2e-" + big.NewInt(time.Now().UnixNano()).String()}
	require.NoError(t, os.WriteFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	require.NoError(t, os.WriteFile(p.TokenFile, []byte(p.Token), 0o600))
	return p
}

// Env points every shipped config at these files and at loopback backends.
func (p *PKI) Env(t testing.TB) []string {
	return []string{
		"OTELCOL_ES_TLS_CERT=" + p.CertFile,
		"OTELCOL_ES_TLS_KEY=" + p.KeyFile,
		"OTELCOL_ES_TOKEN_FILE=" + p.TokenFile,
		// Nothing listens there: a port kept from every other process for as long as the test needs it.
		"OTELCOL_ES_BACKEND=" + ReservedAddr(t),
		"OTELCOL_ES_BACKEND_INSECURE=true",
		"OTELCOL_ES_REMOTE_WRITE_URL=http://" + ReservedAddr(t) + "/api/v1/write",
		// StartCollector binds the listeners on ports of the collector's choosing; these are for `validate`.
		"OTELCOL_ES_GATEWAY_GRPC=" + AnyPort,
		"OTELCOL_ES_GATEWAY_HTTP=" + AnyPort,
	}
}

// TLSConfig trusts the CA, for a server named localhost.
func (p *PKI) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// DialOptions connect to the gateway as its clients do: TLS, and the bearer token on every call.
func (p *PKI) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(p.TLSConfig())),
		grpc.WithPerRPCCredentials(bearer(p.Token)),
	}
}

// bearer sends a bearer token over TLS.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }
