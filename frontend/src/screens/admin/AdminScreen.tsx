import { lazy } from "react";
import type { View } from "../../stores/ui";
import UsersAdmin from "./UsersAdmin";
import ModelsAdmin from "./ModelsAdmin";

const UsageAdmin = lazy(() => import("./UsageAdmin"));

export default function AdminScreen({ view }: { view: View }) {
  if (view === "admin-users") return <UsersAdmin />;
  if (view === "admin-models") return <ModelsAdmin />;
  return <UsageAdmin />;
}
