# Sourced by scripts/bench-proxy*.sh. write_proxy_lua FILE FORM EVENTS writes
# the wrk script both load tests send to {prefix}e: EVENTS events per
# request, each with a fresh unique_id, as text/plain
# (what sendBeacon sends) from an allowed Origin, with a __kla_id cookie
# carrying an exchange id (so every event is kept). FORM is "input" (what
# the helper's proxy build sends for snippetd.viewedProduct) or
# "properties" (Klaviyo properties built by the sender).
write_proxy_lua() {
  local file=$1 form=$2 events=$3 kla
  kla=$(printf '{"cid":"x","$exchange_id":"BenchShopper01.ABC123"}' | base64 -w0)
  cat >"$file" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["Origin"] = "https://shop.example"
wrk.headers["Cookie"] = "__kla_id=$kla"
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
function request()
  local evs = {}
  for i = 1, $events do
    n = n + 1
    if "$form" == "properties" then
      evs[i] = '{"metric":"Viewed Product","properties":{"ProductName":"Mug","ProductID":"p1","SKU":"M-1","Price":12.5,"URL":"https://shop.example/p/mug"},"unique_id":"b' .. tid .. '-' .. n .. '"}'
    else
      evs[i] = '{"metric":"Viewed Product","unique_id":"b' .. tid .. '-' .. n .. '","product":{"id":"p1","sku":"M-1","name":"Mug","url":"https://shop.example/p/mug","price":12.5}}'
    end
  end
  return wrk.format(nil, "/s/e", nil, '{"events":[' .. table.concat(evs, ",") .. '],"profile":{}}')
end
LUA
}
