-- GET of random contacts, by id: ids from the file IDS names, one per line.
local ids = {}
for line in io.lines(os.getenv("IDS")) do ids[#ids + 1] = line end
local token = os.getenv("TOKEN")

request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/v1/billers/DEMO/contacts/" .. id, { ["Authorization"] = "Token " .. token })
end
