import { portalConfig } from "../vite.base";
export default portalConfig(Number(process.env.PORT ?? 5175));
