-- Razorpay's PATCH /v1/contacts/:id of random contacts, one note each time,
-- with HTTP Basic key_id:secret on every request (as Razorpay's clients send it).
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local basic = os.getenv("BASIC")
local n = 0

request = function()
  n = n + 1
  local id = ids[math.random(#ids)]
  return wrk.format("PATCH", "/v1/contacts/" .. id, {
    ["Authorization"] = "Basic " .. basic,
    ["Content-Type"] = "application/json",
  }, '{"notes":{"seen":"' .. n .. '"}}')
end
