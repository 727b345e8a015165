// Evaluate IAM requests with the cloud-copilot iam-simulate engine (npm), the second
// evaluator the classroom isolation tests cross-check against. Reads one JSON array of
// {policies, boundary, action, resource, context} on stdin; prints one JSON array of
// "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | "error: ..." in the same order.
const { runSimulation } = require("@cloud-copilot/iam-simulate");

async function evaluate(item) {
  const simulation = {
    request: {
      principal: item.principal || "arn:aws:iam::111122223333:user/envkit/ann",
      action: item.action,
      resource: { resource: item.resource, accountId: "111122223333" },
      contextVariables: item.context || {},
    },
    identityPolicies: item.policies.map((policy, i) => ({ name: `p${i}`, policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  };
  if (item.boundary) {
    simulation.permissionBoundaryPolicies = [{ name: "boundary", policy: item.boundary }];
  }
  const result = await runSimulation(simulation, {});
  if (result.resultType === "error") {
    return "error: " + JSON.stringify(result.errors).slice(0, 400);
  }
  return result.result.analysis.result;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const out = [];
  for (const item of JSON.parse(input)) out.push(await evaluate(item));
  process.stdout.write(JSON.stringify(out));
});
