module github.com/drover/drover

go 1.25

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/sirupsen/logrus v1.10.2 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
