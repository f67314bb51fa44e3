package http

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login throttling. Failed logins are counted against three budgets, each a
// token bucket that refills with time, so that no lockout lasts:
//
//   - the client address, across accounts (password spraying);
//   - the account, from clients that never logged in to it (guessing one
//     account's password from many addresses);
//   - the account from one known device: a client that logged in to the
//     account before carries a signed device cookie, and its attempts count
//     against its own budget instead of the account's. An attacker who
//     exhausts an account's budget thus cannot lock its real user out.
//
// Only failures spend a budget (an attempt reserves it before its password
// is checked, and gets it back when it succeeds); a login is refused (429
// with Retry-After) while a budget it would spend is empty, and the first
// refusal of an account from an address each minute is recorded in the log.

// LoginLimit is a failure budget: Burst failures at once, then one more
// every Every.
type LoginLimit struct {
	Burst int
	Every time.Duration
}

// LoginLimits are the budgets of the login throttle.
type LoginLimits struct {
	PerAddress, PerAccount, PerDevice LoginLimit
}

// DefaultLoginLimits allow a person plenty of typos and an attacker about
// a hundred guesses an hour per account.
var DefaultLoginLimits = LoginLimits{
	PerAddress: LoginLimit{Burst: 20, Every: 10 * time.Second},
	PerAccount: LoginLimit{Burst: 10, Every: 30 * time.Second},
	PerDevice:  LoginLimit{Burst: 10, Every: time.Minute},
}

// maxBuckets bounds the throttle's memory (about 200 bytes a bucket): past
// it, the buckets that have refilled completely (and so carry no
// information) are dropped, and when that is not enough, arbitrary ones,
// whose budgets start afresh.
const maxBuckets = 100_000

// DeviceCookie is the name of the cookie that marks a known device.
const DeviceCookie = "auditlog_device"

// deviceCookieLifetime is how long a device stays known after a login.
const deviceCookieLifetime = 365 * 24 * time.Hour

type loginThrottle struct {
	limits LoginLimits
	now    func() time.Time
	key    []byte // signs device cookies

	mu      sync.Mutex
	buckets map[string]*bucket
	traces  map[string]*trace
}

type bucket struct {
	lim   *rate.Limiter
	burst int
}

func newLoginThrottle(limits LoginLimits, deviceKey []byte, now func() time.Time) *loginThrottle {
	if len(deviceKey) == 0 {
		deviceKey = make([]byte, 32)
		if _, err := rand.Read(deviceKey); err != nil {
			panic(err)
		}
	}
	return &loginThrottle{limits: limits, now: now, key: deviceKey, buckets: map[string]*bucket{}, traces: map[string]*trace{}}
}

// keys are the budgets a login attempt spends on failure.
func (t *loginThrottle) keys(username, address string, knownDevice bool) map[string]LoginLimit {
	account := strings.ToLower(username)
	keys := map[string]LoginLimit{"address\x00" + address: t.limits.PerAddress}
	if knownDevice {
		keys["device\x00"+account+"\x00"+address] = t.limits.PerDevice
	} else {
		keys["account\x00"+account] = t.limits.PerAccount
	}
	return keys
}

func (t *loginThrottle) bucket(key string, l LoginLimit) *bucket {
	b, ok := t.buckets[key]
	if !ok {
		if len(t.buckets) >= maxBuckets {
			t.prune()
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.Every), l.Burst), burst: l.Burst}
		t.buckets[key] = b
	}
	return b
}

func (t *loginThrottle) prune() {
	now := t.now()
	for k, b := range t.buckets {
		if b.lim.TokensAt(now) >= float64(b.burst) {
			delete(t.buckets, k)
		}
	}
	for k := range t.buckets { // map order is random
		if len(t.buckets) < maxBuckets*9/10 {
			break
		}
		delete(t.buckets, k)
	}
}

// reserve spends the budgets of an attempt before its password is
// checked, so that parallel attempts cannot all pass a check made before
// any of them failed. It returns how long the attempt must wait (nothing
// is spent then), or release, which gives the budgets back unless the
// attempt failed.
func (t *loginThrottle) reserve(username, address string, knownDevice bool) (wait time.Duration, release func(failed bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	keys := t.keys(username, address, knownDevice)
	var longest time.Duration
	for key, l := range keys {
		b, ok := t.buckets[key]
		if !ok {
			continue
		}
		if tokens := b.lim.TokensAt(now); tokens < 1 {
			d := time.Duration(math.Ceil((1 - tokens) * float64(l.Every)))
			longest = max(longest, d)
		}
	}
	if longest > 0 {
		return longest, nil
	}
	var spent []*rate.Reservation
	for key, l := range keys {
		spent = append(spent, t.bucket(key, l).lim.ReserveN(now, 1))
	}
	return 0, func(failed bool) {
		if failed {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, r := range spent {
			r.CancelAt(t.now())
		}
	}
}

// throttledTrace decides whether a refused attempt is recorded: the first
// of each account and address in a traceWindow is, with the number of
// refusals since the last record; the others are only counted.
func (t *loginThrottle) throttledTrace(username, address string) (record bool, refusedBefore int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := strings.ToLower(username) + "\x00" + address
	now := t.now()
	tr, ok := t.traces[key]
	if !ok {
		if len(t.traces) >= maxBuckets {
			for k, old := range t.traces {
				if now.Sub(old.recorded) >= traceWindow || len(t.traces) >= maxBuckets {
					delete(t.traces, k)
				}
			}
		}
		tr = &trace{}
		t.traces[key] = tr
	}
	if ok && now.Sub(tr.recorded) < traceWindow {
		tr.refused++
		return false, 0
	}
	refusedBefore, tr.refused, tr.recorded = tr.refused, 0, now
	return true, refusedBefore
}

// traceWindow is how often refused logins of one account from one
// address are recorded in the log at most.
const traceWindow = time.Minute

// trace is when refused logins of an account from an address were last
// recorded, and how many were refused since.
type trace struct {
	recorded time.Time
	refused  int
}

// succeeded forgets the failures of this account from this client.
func (t *loginThrottle) succeeded(username, address string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.buckets, "device\x00"+strings.ToLower(username)+"\x00"+address)
}

// deviceCookie returns the signed value that marks this client as a known
// device of the account.
func (t *loginThrottle) deviceCookie(username string) string {
	expires := t.now().Add(deviceCookieLifetime).Unix()
	payload := base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(username))) + "." + strconv.FormatInt(expires, 10)
	return payload + "." + t.sign(payload)
}

// knownDevice reports whether cookie is a valid, unexpired device cookie
// of the account.
func (t *loginThrottle) knownDevice(cookie, username string) bool {
	parts := strings.Split(cookie, ".")
	if len(parts) != 3 {
		return false
	}
	payload := parts[0] + "." + parts[1]
	if !hmac.Equal([]byte(parts[2]), []byte(t.sign(payload))) {
		return false
	}
	name, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return string(name) == strings.ToLower(username) && t.now().Unix() < exp
}

// unknownNameHash is a keyed hash of a username that names nobody, the
// same for the same name in any case, on every node of an installation.
func (t *loginThrottle) unknownNameHash(username string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("auditlog unknown username\x00" + strings.ToLower(username)))
	return "hmac-sha256:" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (t *loginThrottle) sign(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("auditlog device cookie\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
