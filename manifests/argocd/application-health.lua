-- Argo CD health check for argoproj.io Application, so that an app-of-apps waits for each sync wave
-- of child Applications to be Healthy before the next (Argo CD stopped assessing Applications by
-- default in 1.8). Installed as resource.customizations.health.argoproj.io_Application in argocd-cm.
local hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
