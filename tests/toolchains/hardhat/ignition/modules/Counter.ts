import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

export default buildModule("CounterModule", (m) => {
  const start = m.getParameter("start", 42n);
  const counter = m.contract("Counter", [start]);
  m.call(counter, "incBy", [8n]);
  return { counter };
});
