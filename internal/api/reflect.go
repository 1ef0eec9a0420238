package api

import (
	"reflect"
	"strconv"
)

func reflectType[T any]() reflect.Type { return reflect.TypeFor[T]() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
