# A page that counts its visits in Redis and says which container served it.
require 'sinatra'
require 'redis'
require 'socket'

set :bind, '0.0.0.0'
set :port, Integer(ENV.fetch('PORT', '4567'))

redis = Redis.new(host: ENV.fetch('REDIS_HOST', 'redis'), port: Integer(ENV.fetch('REDIS_PORT', '6379')))

get '/' do
  count = redis.incr('visits')
  "Hello from #{Socket.gethostname}: this page has been seen #{count} times.\n"
end
