package contract

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// path is a field path inside an object, such as status.initialization.provisioned.
type path []string

func (p path) String() string { return strings.Join(p, ".") }

// readBool reads a boolean field; absent or null reads as false.
func readBool(u *unstructured.Unstructured, p path) (bool, error) {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, p...)
	if err != nil || !found || v == nil {
		return false, wrap(u, p, err)
	}
	b, ok := v.(bool)
	if !ok {
		return false, typeError(u, p, v, "a boolean")
	}
	return b, nil
}

// readString reads a string field; found is false when it is absent or null.
func readString(u *unstructured.Unstructured, p path) (value string, found bool, err error) {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, p...)
	if err != nil || !found || v == nil {
		return "", false, wrap(u, p, err)
	}
	s, ok := v.(string)
	if !ok {
		return "", true, typeError(u, p, v, "a string")
	}
	return s, true, nil
}

// readInt32 reads an integer field that must fit an int32; found is false when it is absent or null.
func readInt32(u *unstructured.Unstructured, p path) (value int32, found bool, err error) {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, p...)
	if err != nil || !found || v == nil {
		return 0, false, wrap(u, p, err)
	}
	var n int64
	switch t := v.(type) {
	case int64:
		n = t
	case int32:
		n = int64(t)
	case int:
		n = int64(t)
	case float64: // JSON numbers decoded without a schema
		if t != float64(int64(t)) {
			return 0, true, typeError(u, p, v, "an integer")
		}
		n = int64(t)
	default:
		return 0, true, typeError(u, p, v, "an integer")
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, true, fmt.Errorf("%s: %s = %d does not fit a 32-bit integer", describe(u), p, n)
	}
	return int32(n), true, nil
}

// readStrings reads a list of strings; found is false when it is absent or null (which is not the same as an
// empty list).
func readStrings(u *unstructured.Unstructured, p path) (value []string, found bool, err error) {
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, p...)
	if err != nil || !found || v == nil {
		return nil, false, wrap(u, p, err)
	}
	items, ok := v.([]any)
	if !ok {
		return nil, true, typeError(u, p, v, "a list of strings")
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, ok := item.(string)
		if !ok {
			return nil, true, typeError(u, path(append(append([]string{}, p...), fmt.Sprintf("[%d]", i))), item, "a string")
		}
		out = append(out, s)
	}
	return out, true, nil
}

func describe(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

func wrap(u *unstructured.Unstructured, p path, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: reading %s: %w", describe(u), p, err)
}

func typeError(u *unstructured.Unstructured, p path, v any, want string) error {
	return fmt.Errorf("%s: %s must be %s, not %T %v", describe(u), p, want, v, v)
}
