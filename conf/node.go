package conf

import "crypto/tls"

// node is what a master's file and a worker's file both set besides their
// Config and log settings: the token and TLS.
type node struct {
	tok tokenSetting
	tls tlsSetting
}

// nodeKeys are the keys nodeKey decodes.
var nodeKeys = []string{"log_level", "log_format", "token", "token_file", "tls_cert", "tls_key", "tls_ca"}

// nodeKey decodes k at p, if it is one of nodeKeys, into n, *level and
// *format, and reports whether it was.
func (d *decoder) nodeKey(p path, k string, v any, n *node, level, format *string) bool {
	switch k {
	case "token":
		n.tok.token = d.str(p, v)
	case "token_file":
		n.tok.file, n.tok.fileLine = d.str(p, v), d.line(p)
	case "tls_cert", "tls_key", "tls_ca":
		n.tls.set(k, d.str(p, v), d.line(p))
	case "log_level", "log_format":
		s := d.str(p, v)
		if err := checkLog(k, s); err != nil {
			d.errorf(p, "%v", err)
		}
		if k == "log_level" {
			*level = s
		} else {
			*format = s
		}
	default:
		return false
	}
	return true
}

// resolve returns the token and the TLS configurations of the file at
// confPath, whose directory relative files are read from.
func (n node) resolve(confPath string) (token string, server, client *tls.Config, err error) {
	if token, err = n.tok.resolve(confPath); err != nil {
		return "", nil, nil, err
	}
	server, client, err = n.tls.resolve(confPath)
	return token, server, client, err
}
