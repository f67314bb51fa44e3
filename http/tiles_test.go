package http

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	tessera "github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/postgres"
	"github.com/auditlog/auditlog/postgres/pgtest"
	"github.com/auditlog/auditlog/tlog"
)

// bearerTransport adds a token to every request, as a monitor's HTTP
// client would.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// largestActivity is an activity whose leaf is as large as the service
// accepts: its size with the longest possible id is exactly the limit.
func largestActivity(t *testing.T) auditlog.NewActivity {
	t.Helper()
	a := auditlog.NewActivity{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine}
	value := strings.Repeat("v", auditlog.MaxChangeValueLen)
	size := func(a auditlog.NewActivity) int {
		tmpl, err := tlog.NewLeafTemplate(auditlog.Activity{Operator: a.Operator, SystemName: a.SystemName, DisplayName: "Edit User",
			Changes: a.Changes, RecordedBy: auditlog.TokenRecorder(1)})
		if err != nil {
			t.Fatal(err)
		}
		return tmpl.MaxSize()
	}
	for size(a) < tlog.MaxLeafBytes {
		a.Changes = append(a.Changes, auditlog.Change{ColumnName: "c", OldValue: value, NewValue: value})
	}
	last := &a.Changes[len(a.Changes)-1]
	over := size(a) - tlog.MaxLeafBytes
	last.NewValue = value[:len(value)-min(over, len(value))]
	if over > len(value) {
		last.OldValue = value[:len(value)-(over-len(value))]
	}
	if got := size(a); got != tlog.MaxLeafBytes {
		t.Fatalf("the largest activity's leaf is %d bytes, want %d", got, tlog.MaxLeafBytes)
	}
	return a
}

// tileClients reads the served log with three tile clients this project
// did not write and checks it against the store.
type tileClients struct {
	store    auditlog.ActivityService // where the served entries come from
	base     string                   // the tlog-tiles prefix, ending in /
	token    string
	verifier note.Verifier
}

// fetchCheckpoint verifies the served checkpoint with golang.org/x/mod
// and C2SP's checkpoint parser alone.
func (c tileClients) fetchCheckpoint(t *testing.T) sumdb.Tree {
	t.Helper()
	body := c.get(t, "checkpoint", http.StatusOK)
	n, err := note.Open(body, note.VerifierList(c.verifier))
	if err != nil {
		t.Fatalf("the checkpoint does not verify: %v\n%s", err, body)
	}
	cp := &log.Checkpoint{}
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	if cp.Origin != c.verifier.Name() {
		t.Fatalf("origin %q, key %q", cp.Origin, c.verifier.Name())
	}
	var root sumdb.Hash
	copy(root[:], cp.Hash)
	return sumdb.Tree{N: int64(cp.Size), Hash: root}
}

func (c tileClients) get(t *testing.T, path string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	resp, err := (&http.Client{Transport: bearerTransport{c.token}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
	}
	return body
}

// checkAll reads the log at its latest checkpoint with each client.
func (c tileClients) checkAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	tree := c.fetchCheckpoint(t)

	// golang.org/x/mod/sumdb/tlog: the tree hash from the tiles alone.
	fetcher, err := torchwood.NewTileFetcher(c.base, torchwood.WithHTTPClient(&http.Client{Transport: bearerTransport{c.token}}))
	if err != nil {
		t.Fatal(err)
	}
	root, err := sumdb.TreeHash(tree.N, torchwood.TileHashReaderWithContext(ctx, tree, fetcher))
	if err != nil || root != tree.Hash {
		t.Fatalf("x/mod: the tiles give root %x (%v), the checkpoint %x", root, err, tree.Hash)
	}

	// torchwood's client: every entry, verified against the tiles, is the
	// leaf of its activity.
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	// It stops short of a partial bundle once; resumed with the same tree
	// it reads the rest.
	next := int64(0)
	for pass := 0; pass < 2 && next < tree.N; pass++ {
		for i, entry := range client.Entries(ctx, tree, next) {
			if i != next {
				t.Fatalf("torchwood: entry %d after %d", i, next)
			}
			a, err := c.store.FindActivityByID(ctx, i+1)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := tlog.LeafData(a)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(entry, leaf) {
				t.Fatalf("torchwood: entry %d is not the leaf of activity %d", i, i+1)
			}
			next++
		}
		if err := client.Err(); err != nil {
			t.Fatalf("torchwood: after %d of %d entries: %v", next, tree.N, err)
		}
	}
	if next != tree.N {
		t.Fatalf("torchwood: read %d of %d entries", next, tree.N)
	}

	// transparency-dev's tessera client: proofs built from the tiles.
	u, _ := url.Parse(c.base)
	tf, err := tessera.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		tf.SetAuthorizationHeader("Bearer " + c.token)
	}
	cp, _, _, err := tessera.FetchCheckpoint(ctx, tf.ReadCheckpoint, c.verifier, c.verifier.Name())
	if err != nil || int64(cp.Size) != tree.N {
		t.Fatalf("tessera: checkpoint %+v, %v", cp, err)
	}
	pb, err := tessera.NewProofBuilder(ctx, cp.Size, tf.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, cp.Size / 2, cp.Size - 1} {
		bundle, err := tessera.GetEntryBundle(ctx, tf.ReadEntryBundle, i/tlog.TileWidth, cp.Size)
		if err != nil {
			t.Fatalf("tessera: entry bundle of %d: %v", i, err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(bundle.Entries[i%tlog.TileWidth])
		hashes, err := pb.InclusionProof(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, leaf, hashes, cp.Hash); err != nil {
			t.Fatalf("tessera: entry %d's inclusion proof does not verify: %v", i, err)
		}
	}
	if cp.Size > 1 {
		hashes, err := pb.ConsistencyProof(ctx, 1, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		first := c.get(t, "tile/0/000.p/1", http.StatusOK)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 1, cp.Size, hashes, first, cp.Hash); err != nil {
			t.Fatalf("tessera: consistency 1→%d does not verify: %v", cp.Size, err)
		}
	}

	// tessera's fsck: every entry bundle hashes to the tiles, and the
	// tiles to the checkpoint's root.
	if err := c.fsck(ctx, tf); err != nil {
		t.Fatalf("fsck: %v", err)
	}
}

func (c tileClients) fsck(ctx context.Context, tf fsck.Fetcher) error {
	hasher := func(bundle []byte) ([][]byte, error) {
		var hashes [][]byte
		for len(bundle) > 0 {
			entry, rest, err := torchwood.ReadTileEntry(bundle)
			if err != nil {
				return nil, err
			}
			hashes = append(hashes, rfc6962.DefaultHasher.HashLeaf(entry))
			bundle = rest
		}
		return hashes, nil
	}
	return fsck.New(c.verifier.Name(), c.verifier, tf, hasher, fsck.Opts{N: 2}).Check(ctx)
}

func newTileClients(t *testing.T, store auditlog.ActivityService, serverURL, token, verifierKey string) tileClients {
	t.Helper()
	v, err := tlog.NewVerifier(verifierKey)
	if err != nil {
		t.Fatal(err)
	}
	return tileClients{store: store, base: serverURL + "/tlog/", token: token, verifier: v}
}

func (e *apiEnv) tileClients(t *testing.T, token string) tileClients {
	t.Helper()
	return newTileClients(t, e.db, e.srv.URL, token, e.signer.VerifierKey)
}

func recordMachine(t *testing.T, e *apiEnv, n int) {
	t.Helper()
	for n > 0 {
		batch := make([]auditlog.NewActivity, min(n, auditlog.MaxBatch))
		for i := range batch {
			batch[i] = auditlog.NewActivity{SystemName: "USER_LOGIN", Operator: auditlog.OperatorHuman, Username: fmt.Sprint("user", i%37),
				Extra: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		}
		if _, err := e.db.RecordActivities(context.Background(), auditlog.TokenRecorder(1), batch); err != nil {
			t.Fatal(err)
		}
		n -= len(batch)
	}
}

func TestIndependentTileClientsVerifyTheServedLog(t *testing.T) {
	e := newAPIEnv(t)
	clients := e.tileClients(t, e.full)
	// The token's creation is activity 1; then the largest leaf the service
	// accepts, in the first bundle; then sizes that leave partial tiles on
	// one and two levels, and one of a whole tile.
	if _, err := e.db.RecordActivities(context.Background(), auditlog.TokenRecorder(1), []auditlog.NewActivity{largestActivity(t)}); err != nil {
		t.Fatal(err)
	}
	for _, grow := range []int{0, 254, 1, 300, 1000 - 556} {
		recordMachine(t, e, grow)
		size := e.publish(t)
		t.Run(fmt.Sprintf("tree size %d", size), clients.checkAll)
	}
	if got := len(clients.get(t, "tile/entries/000", http.StatusOK)); got < tlog.MaxLeafBytes {
		t.Errorf("the first bundle is %d bytes; it holds the largest leaf", got)
	}

	// An activity edited behind the log's back no longer hashes to its
	// leaf in the tiles: fsck says so.
	e.sqlExec(t, `UPDATE activities SET username = 'mallory' WHERE id = 700`)
	u, _ := url.Parse(clients.base)
	tf, _ := tessera.NewHTTPFetcher(u, nil)
	tf.SetAuthorizationHeader("Bearer " + e.full)
	if err := clients.fsck(context.Background(), tf); err == nil {
		t.Error("fsck found nothing wrong with an edited activity")
	}
}

func TestTilesFollowTheSpecification(t *testing.T) {
	e := newAPIEnv(t)
	recordMachine(t, e, 299)
	size := e.publish(t)    // 300: a full tile and a partial one of 44 on level 0, one of 1 on level 1
	recordMachine(t, e, 10) // recorded, not yet signed
	c := e.tileClients(t, e.full)
	head := func(path string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("GET", c.base+path, nil)
		resp, err := (&http.Client{Transport: bearerTransport{e.full}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	if size != 300 {
		t.Fatalf("size %d", size)
	}
	full := c.get(t, "tile/0/000", http.StatusOK)
	partial := c.get(t, "tile/0/001.p/44", http.StatusOK)
	level1 := c.get(t, "tile/1/000.p/1", http.StatusOK)
	if len(full) != 256*32 || len(partial) != 44*32 || len(level1) != 32 {
		t.Fatalf("tiles of %d, %d and %d bytes", len(full), len(partial), len(level1))
	}
	// The level-1 hash is the root of the full level-0 tile.
	hashes := make([]sumdb.Hash, 256)
	for i := range hashes {
		copy(hashes[i][:], full[i*32:])
	}
	if root := subtreeRoot(hashes); !bytes.Equal(root[:], level1) {
		t.Errorf("tile 1/000.p/1 is not the root of tile 0/000")
	}
	// A narrower partial tile of a smaller signed tree is its prefix.
	if got := c.get(t, "tile/0/001.p/7", http.StatusOK); !bytes.Equal(got, partial[:7*32]) {
		t.Error("tile 0/001.p/7 is not the prefix of 0/001.p/44")
	}
	for _, path := range []string{"tile/0/000", "tile/0/001.p/44", "tile/entries/000", "tile/entries/001.p/44"} {
		h := head(path)
		if h.Get("Content-Type") != "application/octet-stream" || !strings.Contains(h.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: Content-Type %q, Cache-Control %q", path, h.Get("Content-Type"), h.Get("Cache-Control"))
		}
	}
	if h := head("checkpoint"); h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("Cache-Control") != "no-cache" {
		t.Errorf("checkpoint: Content-Type %q, Cache-Control %q", h.Get("Content-Type"), h.Get("Cache-Control"))
	}
	// Beyond the signed tree, or malformed: 404.
	for _, path := range []string{"tile/0/001.p/45", "tile/0/001", "tile/0/002.p/1", "tile/1/000", "tile/entries/001.p/45", "tile/entries/001",
		"tile/0/1", "tile/0/001.p/0", "tile/0/001.p/256", "tile/64/000", "tile/entries", "tile/0/x000/001"} {
		c.get(t, path, http.StatusNotFound)
	}
}

// subtreeRoot is the RFC 6962 root of a power-of-two run of hashes.
func subtreeRoot(hs []sumdb.Hash) sumdb.Hash {
	for len(hs) > 1 {
		next := make([]sumdb.Hash, len(hs)/2)
		for i := range next {
			next[i] = sumdb.NodeHash(hs[2*i], hs[2*i+1])
		}
		hs = next
	}
	return hs[0]
}

func TestTheTreeIsReadableWithoutTheContent(t *testing.T) {
	e := newAPIEnv(t)
	recordMachine(t, e, 40)
	e.publish(t)
	monitor := e.token(t, auditlog.NewToken{Name: "monitor", Scopes: []auditlog.Permission{auditlog.PermLogRead}})
	c := e.tileClients(t, monitor)
	tree := c.fetchCheckpoint(t)
	c.get(t, "tile/0/000.p/41", http.StatusOK)
	c.get(t, "tile/entries/000.p/41", http.StatusForbidden)
	status, _, _ := e.do(t, "GET", "/api/v1/activities/3", monitor, "")
	if status != http.StatusForbidden {
		t.Errorf("a log:read token read an activity: %d", status)
	}
	for _, path := range []string{"/api/v1/checkpoint", "/api/v1/activities/3/proof", fmt.Sprintf("/api/v1/consistency?from=%d", tree.N)} {
		if status, _, body := e.do(t, "GET", path, monitor, ""); status != http.StatusOK {
			t.Errorf("a log:read token: %s answered %d %s", path, status, body)
		}
	}
	anonymous := e.tileClients(t, "")
	anonymous.get(t, "checkpoint", http.StatusUnauthorized)
	anonymous.get(t, "tile/0/000.p/41", http.StatusUnauthorized)
}

func TestAPublicLogServesTheTreeToAnyone(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.PublicLog = true })
	recordMachine(t, e, 600)
	e.publish(t)
	anonymous := e.tileClients(t, "")
	tree := anonymous.fetchCheckpoint(t)
	fetcher, err := torchwood.NewTileFetcher(anonymous.base)
	if err != nil {
		t.Fatal(err)
	}
	if root, err := sumdb.TreeHash(tree.N, torchwood.TileHashReaderWithContext(context.Background(), tree, fetcher)); err != nil || root != tree.Hash {
		t.Fatalf("the public tiles give %x (%v), the checkpoint %x", root, err, tree.Hash)
	}
	anonymous.get(t, "tile/entries/000", http.StatusUnauthorized)
	status, _, _ := e.do(t, "GET", "/api/v1/activities", "", "")
	if status != http.StatusUnauthorized {
		t.Errorf("a public log listed activities to anyone: %d", status)
	}
}

func TestTwoPostgresNodesServeTheSameTiles(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	skey, err := tlog.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := tlog.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*postgres.DB
	var clients []tileClients
	for range 2 {
		db, err := postgres.Open(ctx, postgres.Config{URL: url, Builtin: catalog.Builtin()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		srv := httptest.NewServer(NewServer(Config{Store: db, VerifierKey: signer.VerifierKey, PasswordParams: testPasswordParams}))
		t.Cleanup(srv.Close)
		nodes = append(nodes, db)
		clients = append(clients, tileClients{store: db, base: srv.URL + "/tlog/"})
	}
	secret := auditlog.GenerateTokenSecret()
	if _, err := nodes[0].CreateToken(ctx, setup, auditlog.NewToken{Name: "reader", Scopes: []auditlog.Permission{auditlog.PermActivitiesRead}}, secret); err != nil {
		t.Fatal(err)
	}
	for i := range clients {
		clients[i] = newTileClients(t, nodes[i], strings.TrimSuffix(clients[i].base, "/tlog/"), secret, signer.VerifierKey)
	}
	// Both nodes record, into one log, and each signs in turn.
	for round, grow := range []int{300, 213} {
		for i, node := range nodes {
			batch := make([]auditlog.NewActivity, grow/2+i)
			for j := range batch {
				batch[j] = auditlog.NewActivity{SystemName: "EDIT_USER", Operator: auditlog.OperatorMachine, ObjectID: fmt.Sprint(round, i, j)}
			}
			if _, err := node.RecordActivities(ctx, auditlog.TokenRecorder(1), batch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := (&tlog.Checkpointer{Store: nodes[round%2], Signer: signer}).Publish(ctx); err != nil {
			t.Fatal(err)
		}
		for i, c := range clients {
			t.Run(fmt.Sprintf("round %d, node %d", round, i), c.checkAll)
		}
		tree := clients[0].fetchCheckpoint(t)
		for _, path := range []string{"checkpoint", torchwood.TilePath(sumdb.Tile{H: 8, L: 0, N: 0, W: 256}),
			torchwood.TilePath(sumdb.Tile{H: 8, L: 0, N: tree.N / 256, W: int(tree.N % 256)}), torchwood.TilePath(sumdb.Tile{H: 8, L: -1, N: 1, W: int(min(tree.N-256, 256))})} {
			if a, b := clients[0].get(t, path, http.StatusOK), clients[1].get(t, path, http.StatusOK); !bytes.Equal(a, b) {
				t.Errorf("round %d: the nodes serve different %s", round, path)
			}
		}
	}
}
