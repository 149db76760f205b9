package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// libchdb is bound here, on the first Open, rather than through
// chdb-go/chdb-purego, whose package init dlopens and relocates the 600 MB
// library (about 140 MiB resident) in every process that merely links this
// package: a node that stores in a ClickHouse server (--clickhouse), and
// every admin command, paid for an engine it never opened. Only the calls
// Backend needs are bound (chdb.h's connection API).
var lib struct {
	once sync.Once
	err  error

	connect       func(argc int, argv **byte) unsafe.Pointer // chdb_connection*
	closeConn     func(conn unsafe.Pointer)
	query         func(conn unsafe.Pointer, query *byte, format *byte) unsafe.Pointer // chdb_result*
	destroyResult func(res unsafe.Pointer)
	resultBuffer  func(res unsafe.Pointer) *byte
	resultLength  func(res unsafe.Pointer) uintptr
	resultError   func(res unsafe.Pointer) *byte
}

// LibraryPath is where Open looks for libchdb: CHDB_LIB_PATH, else
// /usr/local/lib/libchdb.so, else the loader's search path.
func LibraryPath() string {
	if p := os.Getenv("CHDB_LIB_PATH"); p != "" {
		return p
	}
	const installed = "/usr/local/lib/libchdb.so"
	if _, err := os.Stat(installed); err == nil {
		return installed
	}
	return "libchdb.so"
}

// load binds libchdb once per process; a failure is kept and returned to
// every Open.
func load() error {
	lib.once.Do(func() { lib.err = bind(LibraryPath()) })
	return lib.err
}

func bind(path string) error {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("load libchdb from %s (set CHDB_LIB_PATH): %w", path, err)
	}
	for _, f := range []struct {
		fn   any
		name string
	}{
		{&lib.connect, "chdb_connect"},
		{&lib.closeConn, "chdb_close_conn"},
		{&lib.query, "chdb_query"},
		{&lib.destroyResult, "chdb_destroy_query_result"},
		{&lib.resultBuffer, "chdb_result_buffer"},
		{&lib.resultLength, "chdb_result_length"},
		{&lib.resultError, "chdb_result_error"},
	} {
		sym, err := purego.Dlsym(h, f.name)
		if err != nil {
			return fmt.Errorf("libchdb at %s has no %s (too old a version?): %w", path, f.name, err)
		}
		purego.RegisterFunc(f.fn, sym)
	}
	return nil
}

// cString is s NUL-terminated, in Go memory that stays put during a call.
func cString(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

// goString copies the C string at p.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// connect opens the engine with its data in dir (an absolute path).
func connect(dir string) (conn unsafe.Pointer, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	argv := []*byte{cString("clickhouse"), cString("--path=" + abs)}
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("libchdb connect: %v", r)
			}
		}()
		conn = lib.connect(len(argv), &argv[0])
	}()
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("libchdb could not open a connection")
	}
	return conn, nil
}

// queryConn runs query (NUL-terminated) and returns a copy of its output.
// A chdb_connection is one pointer, passed by value to chdb_query.
func queryConn(conn unsafe.Pointer, query *byte, format string) ([]byte, error) {
	res := lib.query(*(*unsafe.Pointer)(conn), query, cString(format))
	if res == nil {
		return nil, nil
	}
	defer lib.destroyResult(res)
	if msg := goString(lib.resultError(res)); msg != "" {
		return nil, errors.New(msg)
	}
	n := lib.resultLength(res)
	buf := lib.resultBuffer(res)
	if n == 0 || buf == nil {
		return nil, nil
	}
	return append([]byte(nil), unsafe.Slice(buf, n)...), nil
}
