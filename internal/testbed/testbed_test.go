package testbed

import (
	"bufio"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A listener on port 0 is found again, by its loopback address, among the process's sockets.
func TestBoundListenersReadsBackPortZero(t *testing.T) {
	l, err := net.Listen("tcp", listenerIP(13)+":0")
	require.NoError(t, err)
	defer l.Close()
	bound, err := boundListeners(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, l.Addr().String(), bound[listenerIP(13)])
}

// A reserved port can still be bound by a Go listener (SO_REUSEADDR), the way the process it is meant for
// binds it.
func TestReservedAddrBindsAgain(t *testing.T) {
	addr := ReservedAddr(t)
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	l.Close()
}

func TestRelayForwardsOnlyWhileUp(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	r := StartRelay(t)
	roundTrip := func() (string, error) {
		c, err := net.Dial("tcp", r.Addr)
		require.NoError(t, err)
		defer c.Close()
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	_, err = roundTrip()
	assert.Error(t, err, "nothing behind the relay yet: the connection is closed")
	r.To(echo.Addr().String())
	got, err := roundTrip()
	require.NoError(t, err)
	assert.Equal(t, "ping\n", got)

	// Down also ends the connections already open.
	c, err := net.Dial("tcp", r.Addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("ping\n"))
	require.NoError(t, err)
	br := bufio.NewReader(c)
	_, err = br.ReadString('\n')
	require.NoError(t, err)
	r.Down()
	// The deadline only keeps a broken Down from hanging the test; its error fails it.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = br.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF, "the relay did not close the open connection")
}
