package form

import (
	"encoding/json"
	"testing"
)

// TestParse checks the shapes Kong's decoders give argument names
// (K: kong/api/arguments.lua ≤3.7, kong/api/arguments_decoder.lua ≥3.8).
func TestParse(t *testing.T) {
	old := Options{Method: "POST"}
	brackets := Options{Brackets: true, Method: "POST"}
	for _, c := range []struct {
		body string
		opt  Options
		want string
	}{
		{"name=orders&url=http%3A%2F%2Fx", old, `{"name":"orders","url":"http://x"}`},
		{"config.minute=5&config.policy=local", old, `{"config":{"minute":"5","policy":"local"}}`},
		{"paths[]=/a&paths[]=/b", old, `{"paths":["/a","/b"]}`},
		{"paths=/a&paths=/b", old, `{"paths":["/a","/b"]}`},
		{"protocols[2]=https&protocols[1]=http", brackets, `{"protocols":["http","https"]}`},
		{"config.allow[1]=a&config.allow[2]=b", old, `{"config":{"allow":["a","b"]}}`},
		{"sources[1].ip=10.0.0.1&sources[1].port=80", brackets, `{"sources":[{"ip":"10.0.0.1","port":"80"}]}`},
		{"enabled&name=x+y", old, `{"enabled":true,"name":"x y"}`},
		{".x=1", old, `{"name":"1"}`},
		{"headers[x-a]=1", old, `{"headers[x-a]":"1"}`},
		{"headers[x-a]=1", brackets, `{"headers":{"x-a":"1"}}`},
		{"headers%5Bx-a%5D=1", brackets, `{"headers":{"x-a":"1"}}`},
		{"a[b.c]=1", brackets, `{"a":{"b.c":"1"}}`},
		{"a[b.c]=1", old, `{"a[b":{"c]":"1"}}`},
		{"headers[x-a]=1", Options{Brackets: true, Method: "GET"}, `{"headers[x-a]":"1"}`},
		// combine_arg: a scalar meeting a list under one key nests.
		{"a=1&a[]=2", old, `{"a":[["1","2"]]}`},
	} {
		got, err := Parse("application/x-www-form-urlencoded", []byte(c.body), c.opt)
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		b, _ := json.Marshal(got)
		if string(b) != c.want {
			t.Errorf("%s (brackets %v): %s, want %s", c.body, c.opt.Brackets, b, c.want)
		}
	}
}

type testField struct {
	typ    string
	elem   *testField
	values *testField
	fields map[string]*testField
}

func (f *testField) Type() string { return f.typ }
func (f *testField) Elements() Field {
	if f.elem == nil {
		return nil
	}
	return f.elem
}
func (f *testField) Values() Field {
	if f.values == nil {
		return nil
	}
	return f.values
}
func (f *testField) Sub(n string) Field {
	if s := f.fields[n]; s != nil {
		return s
	}
	return nil
}

// TestInfer checks arguments.lua infer_value's coercions.
func TestInfer(t *testing.T) {
	str := &testField{typ: "string"}
	schema := &testField{typ: "record", fields: map[string]*testField{
		"port":    {typ: "integer"},
		"weight":  {typ: "number"},
		"enabled": {typ: "boolean"},
		"paths":   {typ: "array", elem: str},
		"ports":   {typ: "set", elem: &testField{typ: "integer"}},
		"name":    str,
		"headers": {typ: "map", values: &testField{typ: "array", elem: str}},
		"config":  {typ: "record", fields: map[string]*testField{"minute": {typ: "number"}, "on": {typ: "boolean"}}},
	}}
	got, _ := Parse("application/x-www-form-urlencoded", []byte(
		"port=0x50&weight=1.5&enabled=false&paths=/x&ports[]=1&ports[]=2&name=&headers.x=1&config.minute=5&config.on=yes&other=7"), Options{})
	Infer(got, schema)
	b, _ := json.Marshal(got)
	want := `{"config":{"minute":5,"on":"yes"},"enabled":false,"headers":{"x":["1"]},"name":null,"other":"7","paths":["/x"],"port":80,"ports":[1,2],"weight":1.5}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
