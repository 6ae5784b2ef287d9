-- PATCH of random contacts, changing one field (a note) each time.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local token = os.getenv("TOKEN")
local n = 0

request = function()
  n = n + 1
  local id = ids[math.random(#ids)]
  return wrk.format("PATCH", "/v1/billers/DEMO/contacts/" .. id, {
    ["Authorization"] = "Token " .. token,
    ["Content-Type"] = "application/merge-patch+json",
  }, '{"notes":{"seen":"' .. n .. '"}}')
end
