package http

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"filippo.io/torchwood"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// The log as C2SP tlog-tiles (c2sp.org/tlog-tiles), under /tlog/: the
// latest checkpoint, the hash tiles of height 8 and the entry bundles,
// whose entries are the activities' leaves. Any tlog-tiles client reads
// and verifies the log from these alone. Only what the latest checkpoint
// covers is served: a client verifies a checkpoint first and then fetches
// the tiles that checkpoint's size implies.

// tlogPrefix is where the tiles are served.
const tlogPrefix = "/tlog/"

// Cache lifetimes: a tile's content never changes (a partial tile of width
// W is always the same W hashes), the checkpoint does all the time.
const (
	tileCache       = "max-age=31536000, immutable"
	checkpointCache = "no-cache"
)

// routeTiles registers the tile endpoints. With publicLog the checkpoint
// and the hash tiles are open to anyone; otherwise they need log:read (or
// activities:read). Entry bundles hold the activities and always need
// activities:read.
func (s *Server) routeTiles(publicLog bool) {
	treeRoute := s.route
	if publicLog {
		treeRoute = func(pattern string, _ auditlog.Permission, h http.HandlerFunc) { s.public(pattern, h) }
	}
	treeRoute("GET /tlog/checkpoint", auditlog.PermLogRead, s.handleCheckpoint)
	treeRoute("GET /tlog/tile/{path...}", auditlog.PermLogRead, s.handleHashTile)
	s.route("GET /tlog/tile/entries/{path...}", auditlog.PermActivitiesRead, s.handleEntryBundle)
}

// signedTile parses the path of a tile request and checks that the latest
// checkpoint covers the tile: every hash (or entry) it asks for lies in
// the signed tree.
func (s *Server) signedTile(r *http.Request, path string) (level uint, index uint64, width int, err error) {
	t, err := torchwood.ParseTilePath(path)
	if err != nil || t.H != tlog.TileHeight {
		return 0, 0, 0, auditlog.Errorf(auditlog.ENOTFOUND, "no such tile: %s (tiles are tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>], as c2sp.org/tlog-tiles says)", path)
	}
	c, err := s.store.LatestCheckpoint(r.Context())
	if err != nil {
		return 0, 0, 0, err
	}
	level = uint(max(t.L, 0))
	// The hashes (or entries) of level L cover 256^L leaves each: the
	// tile's last one must be within the checkpoint's tree.
	covered := c.Size >> (tlog.TileHeight * level)
	if uint64(t.N)*tlog.TileWidth+uint64(t.W) > covered {
		return 0, 0, 0, auditlog.Errorf(auditlog.ENOTFOUND, "tile %s is beyond the latest checkpoint (tree size %d)", path, c.Size)
	}
	return level, uint64(t.N), t.W, nil
}

func (s *Server) handleHashTile(w http.ResponseWriter, r *http.Request) {
	path := "tile/" + r.PathValue("path")
	if strings.HasPrefix(path, "tile/entries/") {
		// The entries' own route is the more specific pattern; this one
		// only sees a path such as "tile/entries" without an index.
		s.fail(w, r, auditlog.Errorf(auditlog.ENOTFOUND, "no such tile: %s", path))
		return
	}
	level, index, width, err := s.signedTile(r, path)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hashes, err := s.store.TileHashes(r.Context(), level, index)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(hashes) < width*tlog.HashSize {
		s.fail(w, r, auditlog.Errorf(auditlog.EINTERNAL, "the stored tile %d/%d holds %d hashes, fewer than the signed tree's %d", level, index, len(hashes)/tlog.HashSize, width))
		return
	}
	writeTile(w, hashes[:width*tlog.HashSize])
}

func (s *Server) handleEntryBundle(w http.ResponseWriter, r *http.Request) {
	_, index, width, err := s.signedTile(r, "tile/entries/"+r.PathValue("path"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Entry i of the log is the leaf of activity i+1.
	first := int64(index)*tlog.TileWidth + 1
	f := auditlog.Filter{AfterID: first - 1, BeforeID: first + int64(width), OldestFirst: true}
	bundle := make([]byte, 0, width*700)
	var leaf []byte // reused from entry to entry
	next := first
	err = s.store.StreamActivities(r.Context(), f, func(a *auditlog.Activity) error {
		if a.ID != next {
			return auditlog.Errorf(auditlog.EINTERNAL, "activity %d is missing from the store", next)
		}
		next++
		tmpl, err := tlog.NewLeafTemplate(*a)
		if err != nil {
			return fmt.Errorf("leaf of activity %d: %w", a.ID, err)
		}
		leaf = tmpl.AppendData(leaf[:0], a.ID, a.Created)
		bundle, err = torchwood.AppendTileEntry(bundle, leaf)
		return err
	})
	if err == nil && next != first+int64(width) {
		err = auditlog.Errorf(auditlog.EINTERNAL, "activity %d is missing from the store", next)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeTile(w, bundle)
}

// writeTile answers with a tile's bytes, which never change.
func writeTile(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", tileCache)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
