package app

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// redisClients makes the one Redis client every part shares (locks,
// sessions, claims, pub/sub) and asynq's connection options from
// REDIS_URL: redis:// and rediss:// name one server;
// redis-sentinel://[:password@]host:port[,host:port...][/db]?master=name
// names Sentinels, which say which server is the primary now, so a
// failover moves every part to the new primary (go-redis's failover
// client and asynq's RedisFailoverClientOpt). The password is the
// primary's; a sentinel_password parameter, if any, is the Sentinels'.
func redisClients(raw string, poolSize int) (*redis.Client, asynq.RedisConnOpt, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	if u.Scheme != "redis-sentinel" {
		ropt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, nil, err
		}
		ropt.PoolSize = max(ropt.PoolSize, poolSize)
		aopt, err := asynq.ParseRedisURI(raw)
		if err != nil {
			return nil, nil, err
		}
		return redis.NewClient(ropt), aopt, nil
	}
	q := u.Query()
	master := q.Get("master")
	addrs := strings.Split(u.Host, ",")
	if master == "" || u.Host == "" {
		return nil, nil, fmt.Errorf("redis-sentinel URL needs host:port of the sentinels and ?master=name")
	}
	db := 0
	if p := strings.Trim(u.Path, "/"); p != "" {
		if db, err = strconv.Atoi(p); err != nil || db < 0 {
			return nil, nil, fmt.Errorf("database number must be a non-negative integer")
		}
	}
	password, _ := u.User.Password()
	sentinelPassword := q.Get("sentinel_password")
	client := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: master, SentinelAddrs: addrs, SentinelPassword: sentinelPassword,
		Password: password, DB: db, PoolSize: poolSize,
	})
	aopt := asynq.RedisFailoverClientOpt{
		MasterName: master, SentinelAddrs: addrs, SentinelPassword: sentinelPassword,
		Password: password, DB: db,
	}
	return client, aopt, nil
}
