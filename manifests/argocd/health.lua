-- Argo CD health check for inference.tritonops.dev/v1alpha1 ModelDeployment.
-- Installed as resource.customizations.health.inference.tritonops.dev_ModelDeployment in the
-- argocd-cm ConfigMap (argocd-cm.yaml beside this file embeds this text verbatim).
-- Argo CD hands the live object in `obj`; the script returns `hs` with `status` and `message`.
local hs = {}

local healthy = {Ready = true}
local progressing = {Pending = true, Progressing = true, Canary = true, Promoting = true, WaitingForCapacity = true}
local degraded = {RolledBack = true, Failed = true, Degraded = true}

local function explain(phase, message)
  if message ~= nil and message ~= "" then
    return phase .. ": " .. message
  end
  return phase
end

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

-- Status that describes an older spec says nothing about the one in Git.
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
local paused = obj.spec ~= nil and obj.spec.rollout ~= nil and obj.spec.rollout.paused == true
local in_rollout = status.canaryRevision ~= nil or phase == "Canary" or phase == "Promoting"

if healthy[phase] then
  hs.status = "Healthy"
elseif degraded[phase] then
  -- RolledBack: Git asks for a revision that failed its analysis and is not running.
  hs.status = "Degraded"
elseif paused and in_rollout then
  hs.status = "Suspended"
  hs.message = explain("Rollout paused", status.message)
  return hs
elseif progressing[phase] then
  hs.status = "Progressing"
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
  return hs
end

if phase == "Canary" and status.canaryWeight ~= nil then
  hs.message = explain("Canary at " .. tostring(status.canaryWeight) .. "%", status.message)
else
  hs.message = explain(phase, status.message)
end
return hs
