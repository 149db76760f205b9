package store

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Bind replaces each ? placeholder outside string literals with a safely
// quoted literal. Both backends receive the same bound text, which is what
// lets chDB and a ClickHouse server run identical SQL.
func Bind(query string, args ...any) (string, error) {
	var b strings.Builder
	b.Grow(len(query) + 16*len(args))
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(query) {
				i++
				b.WriteByte(query[i])
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '?':
			if n >= len(args) {
				return "", fmt.Errorf("bind: more placeholders than the %d arguments", len(args))
			}
			if err := appendLiteral(&b, args[n]); err != nil {
				return "", fmt.Errorf("bind argument %d: %w", n+1, err)
			}
			n++
		default:
			b.WriteByte(c)
		}
	}
	if n != len(args) {
		return "", fmt.Errorf("bind: %d arguments for %d placeholders", len(args), n)
	}
	return b.String(), nil
}

// Quote returns s as a ClickHouse string literal.
func Quote(s string) string {
	var b strings.Builder
	quoteTo(&b, s)
	return b.String()
}

func quoteTo(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
}

func appendLiteral(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("NULL")
	case string:
		quoteTo(b, x)
	case []byte:
		quoteTo(b, string(x))
	case bool:
		if x {
			b.WriteString("1")
		} else {
			b.WriteString("0")
		}
	case int:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case int8, int16, int32, int64:
		b.WriteString(strconv.FormatInt(reflect.ValueOf(x).Int(), 10))
	case uint, uint8, uint16, uint32, uint64:
		b.WriteString(strconv.FormatUint(reflect.ValueOf(x).Uint(), 10))
	case float32:
		return appendFloat(b, float64(x))
	case float64:
		return appendFloat(b, x)
	case time.Time:
		b.WriteString("toDateTime64(")
		quoteTo(b, x.UTC().Format("2006-01-02 15:04:05.000"))
		b.WriteString(", 3, 'UTC')")
	case time.Duration:
		b.WriteString(strconv.FormatInt(int64(x/time.Millisecond), 10))
	default:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			b.WriteByte('[')
			for i := 0; i < rv.Len(); i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				if err := appendLiteral(b, rv.Index(i).Interface()); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		}
		return fmt.Errorf("unsupported type %T", v)
	}
	return nil
}

func appendFloat(b *strings.Builder, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("non-finite float %v", f)
	}
	b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	return nil
}
